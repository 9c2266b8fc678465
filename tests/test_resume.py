"""--resume of every script: a run cut after an epoch and resumed gives the numbers of the uninterrupted run.

One test, parametrized over the scripts (and char-rnn's two batch layouts and its transformer, the awd preset
while its weights are averaged, and PTB on two JAX devices). Each case trains the whole run (or takes it from
the session's shared runs, tests/conftest.py) and the cut run, resumes the cut one to the end and compares the
results, the history, and what the case keeps besides. The word models train on a small corpus and char-rnn's
LSTM on a text of Tiny Shakespeare's (what is tested is the resume, not the data sets' figures); the transformer
and MNIST on their data sets.
"""

import dataclasses
import importlib
import importlib.util
import json

import pytest

from datasets import load_shakespeare
from tests.conftest import DEVICE_PTB, GPT_RUN, XLSTM_RUN, copy_run, history, write_corpus


@dataclasses.dataclass(frozen=True)
class Case:
    script: str
    argv: tuple            # the run's settings, without --epochs, --data-dir, --output-dir
    epochs: int            # of the whole run; the cut run has one fewer
    results: dict          # key of main's results: relative tolerance (0: exactly equal)
    columns: tuple         # history.csv columns that must agree epoch by epoch
    tolerance: float = 1e-5  # for the columns
    title: str = ""        # what the resumed run prints about itself: its saved preset, not the default one
    default_title: str = ""
    whole: str = ""        # a session fixture that is the whole run, or "" to train it here
    devices: int = 0       # > 0: every run in a fresh process on this many JAX CPU devices, --distribute data
    cut_learning_rates: tuple = ()  # history.csv's learning_rate column of the resumed run
    same_files: tuple = ()  # files of the run folder that must be the same
    corpus: bool = False   # train on a small corpus folder (--corpus, which the resumed run must find unchanged)
    text: bool = False     # train on Tiny Shakespeare's test split written to a file (--text)
    moved: bool = False    # the cut run is trained in another folder and resumed in a copy of it
    unscored: bool = False  # Tiny Shakespeare runs whose nanoGPT score is not read: --nanogpt-batches 0 for the
                            # runs trained here and for the resume (which may change it)


CASES = {
    # char-rnn's two batch layouts on Tiny Shakespeare's test split as a text of its own (--text): its short valid and
    # test splits are read in a moment, and it is a text of the data set's kind
    "char-streams": Case("train_char_rnn", ("--preset", "test", "--steps-per-epoch", "60", "--batch-layout", "streams"),
                         2, {"valid_nats": 1e-5, "test_nats": 1e-5, "best_epoch": 0}, ("valid_nats",),
                         title="{text} test:", default_title="{text} small", same_files=("samples.txt",), text=True),
    "char-windows": Case("train_char_rnn", ("--preset", "test", "--steps-per-epoch", "60", "--batch-layout", "windows"),
                         2, {"valid_nats": 1e-5, "test_nats": 1e-5, "best_epoch": 0}, ("valid_nats",),
                         title="{text} test:", default_title="{text} small", same_files=("samples.txt",), text=True),
    # the transformer: AdamW's moments and the step of its warm-up and cosine go on where they were
    "char-gpt": Case("train_char_rnn", GPT_RUN, 2, {"valid_nats": 1e-5, "test_nats": 1e-5, "best_epoch": 0},
                     ("valid_nats", "train_nats", "learning_rate"), title="Tiny Shakespeare gpt-test:",
                     default_title="Tiny Shakespeare small", whole="gpt_run", same_files=("samples.txt",),
                     unscored=True),
    # the xLSTM: its blocks' carried states (sLSTM, mLSTM, convolutions), AdamW and its warm-up and cosine
    "char-xlstm": Case("train_char_rnn", XLSTM_RUN, 2, {"valid_nats": 1e-5, "test_nats": 1e-5, "best_epoch": 0},
                       ("valid_nats", "train_nats", "learning_rate"), title="Tiny Shakespeare xlstm-test:",
                       default_title="Tiny Shakespeare small", whole="xlstm_run", same_files=("samples.txt",),
                       unscored=True),
    "mnist": Case("train_mnist_bilstm", ("--preset", "test", "--steps-per-epoch", "40"), 2, {"test_accuracy": 0},
                  ("valid_loss",), title="MNIST BiLSTM test:", default_title="MNIST BiLSTM default"),
    # averaging began in epoch 2: the cut run stops while the weights are averaged (a corpus of 64 steps an epoch)
    "awd": Case("train_ptb", ("--preset", "awd-test", "--steps-per-epoch", "60", "--seed", "3"), 3,
                {"test_perplexity": 1e-5}, ("valid_perplexity",), title="{corpus} awd-test:",
                default_title="{corpus} small", corpus=True),
    # train_ptb.py on its own small corpus, the cut run resumed in a copy of its folder: the quick tier's case
    "ptb-own-corpus": Case("train_ptb", ("--preset", "test", "--steps-per-epoch", "20", "--seed", "4"), 2,
                           {"test_perplexity": 1e-5}, ("valid_perplexity", "train_perplexity"), title="{corpus} test:",
                           default_title="{corpus} small", corpus=True, cut_learning_rates=("1.0", "0.5"),
                           moved=True),
    # the runs in one fresh process on two JAX devices, on a small corpus (tests/conftest.py's jax_device_runs)
    "ptb-2-devices": Case("train_ptb", DEVICE_PTB + ("--distribute", "data"), 2, {"test_perplexity": 1e-5},
                          ("valid_perplexity",), tolerance=1e-4, devices=2),
}

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax (requirements-jax.txt)")


@pytest.mark.parametrize("name", [
    pytest.param("char-streams", marks=pytest.mark.slow),
    pytest.param("char-windows", marks=pytest.mark.slow),
    "char-gpt",
    pytest.param("char-xlstm", marks=pytest.mark.slow),
    pytest.param("mnist", marks=pytest.mark.slow),
    pytest.param("awd", marks=pytest.mark.slow),
    "ptb-own-corpus",
    pytest.param("ptb-2-devices", marks=[pytest.mark.slow, needs_jax]),
])
def test_resume_gives_same_numbers_as_uninterrupted(name, request, tmp_path, data_dir, capsys):
    case = CASES[name]
    if case.devices:  # the whole run, the cut run and its resume were made in one process on the devices
        runs = request.getfixturevalue("jax_device_runs")(case.devices)
        (whole_folder, whole), (cut, _), (_, resumed) = (runs[key] for key in ("ptb", "ptb cut", "ptb resumed"))
        assert all("exit" not in results for results in (whole, resumed)), runs["stderr"][-3000:]
        check_resumed(case, whole_folder, whole, cut, resumed, "", capsys)
        return
    main = importlib.import_module(case.script).main
    common = [*case.argv, "--data-dir", data_dir]
    corpus = write_corpus(tmp_path / "corpus", lines=800) if case.corpus else None
    if corpus:
        common += ["--corpus", str(corpus)]
    if case.text:
        corpus = tmp_path / "shakespeare-test.txt"
        corpus.write_text(load_shakespeare(data_dir)[2], encoding="utf-8")
        common += ["--text", str(corpus)]
    unscored = ["--nanogpt-batches", "0"] if case.unscored else []

    if case.whole:
        whole_folder, whole, _ = request.getfixturevalue(case.whole)
        assert history(whole_folder)[-1]["epoch"] == str(case.epochs)
    else:
        whole_folder = tmp_path / "whole"
        whole = main(common + unscored + ["--epochs", str(case.epochs), "--output-dir", str(whole_folder)])
    cut = tmp_path / "cut"
    if case.moved:
        main(common + unscored + ["--epochs", str(case.epochs - 1), "--output-dir", str(tmp_path / "trained")])
        copy_run(tmp_path / "trained", cut)
    else:
        main(common + unscored + ["--epochs", str(case.epochs - 1), "--output-dir", str(cut)])
    capsys.readouterr()

    resume = ["--resume", "--epochs", str(case.epochs), "--output-dir", str(cut), "--data-dir", data_dir]
    resumed = main(resume + unscored)  # neither --preset nor --seed
    check_resumed(case, whole_folder, whole, cut, resumed, corpus, capsys)


def check_resumed(case, whole_folder, whole, cut, resumed, corpus, capsys):
    """The resumed run `cut` against the whole run: results, history, the files the case names, its preset and
    what it printed."""
    for key, rel in case.results.items():
        assert resumed[key] == (pytest.approx(whole[key], rel=rel) if rel else whole[key]), key
    rows = [history(whole_folder), history(cut)]
    assert len(rows[0]) == len(rows[1]) == case.epochs
    for a, b in zip(*rows):
        for column in case.columns:
            assert float(a[column]) == pytest.approx(float(b[column]), rel=case.tolerance), (column, a["epoch"])
    if case.cut_learning_rates:
        assert tuple(row["learning_rate"] for row in rows[1]) == case.cut_learning_rates
    for file in case.same_files:
        assert (cut / file).read_text() == (whole_folder / file).read_text(), file
    assert json.load(open(cut / "config.json"))["preset"] == case.argv[case.argv.index("--preset") + 1]
    if case.title:  # the saved preset names the resumed run, not the command line's default one
        printed = capsys.readouterr().out
        title, default_title = (text.format(corpus=corpus, text=corpus) for text in (case.title, case.default_title))
        assert title in printed and default_title not in printed
        assert f"Resuming {cut} after epoch {case.epochs - 1}." in printed
