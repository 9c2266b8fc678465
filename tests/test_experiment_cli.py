"""The command lines of experiments/ and benchmarks/: one name per idea, lists with spaces, repeats dropped, and
every mistake one paragraph (`error: ...`, exit code 2, no traceback) before anything is written."""

import glob
import os
import re

import pytest

import experiments
from experiments import gate_pictures, long_memory, lstm_vs_transformer, variants, weight_averaging
from tests.conftest import ROOT, benchmark, script_error


def main_of(module):
    """The main() of experiments.X or benchmarks.X, by the module's dotted name."""
    package, name = module.split(".")
    return getattr(experiments, name).main if package == "experiments" else benchmark(name).main


# ---- names and lists ------------------------------------------------------------------------------------------

def test_lists_take_spaces_numbers_are_sorted_and_names_keep_their_order_each_once(monkeypatch, tmp_path):
    taken = []
    monkeypatch.setattr(variants, "run", lambda *a: taken.append(a))
    variants.main(["--seeds", "2", "0", "2", "--parts", "mnist", "memory", "mnist", "--models", "gru", "vanilla",
                   "gru"])
    config, _, _, parts, models = taken[0]
    assert config.seeds == (0, 2) and parts == ("mnist", "memory") and models == ("gru", "vanilla")
    args = lstm_vs_transformer.parse_args(["--budgets", "2", "1", "1", "--presets", "wide", "small", "wide",
                                           "--nanogpt-batches", "3", "--output-dir", str(tmp_path / "out")])
    assert args.budgets == [1.0, 2.0] and args.presets == ["wide", "small"] and args.nanogpt_batches == 3
    defaults = lstm_vs_transformer.parse_args(["--output-dir", str(tmp_path / "out")])
    assert defaults.budgets == [5.0, 10.0, 20.0] and defaults.presets == list(lstm_vs_transformer.PRESETS)
    assert not (tmp_path / "out").exists()  # parsing writes nothing


@pytest.mark.parametrize("module, argv, message", [
    # the old names, gone: the new ones are the training scripts'
    ("experiments.lstm_vs_transformer", ["--eval-batches", "2"], "unrecognized arguments: --eval-batches"),
    ("benchmarks.model_speed", ["--mixed-bfloat16"], "unrecognized arguments: --mixed-bfloat16"),
    ("benchmarks.explorer_speed", ["--repeat", "3"], "unrecognized arguments: --repeat"),
    ("benchmarks.long_sequences", ["--steps", "100"], "unrecognized arguments: --steps"),
    # lists with commas: the same list with spaces is the fix
    ("experiments.variants", ["--seeds", "0,1"], "Lists take spaces, not commas: --seeds 0 1."),
    ("experiments.variants", ["--parts", "memory,char"], "Lists take spaces, not commas: --parts memory char."),
    ("experiments.lstm_vs_transformer", ["--budgets", "5,10"], "Lists take spaces, not commas: --budgets 5 10."),
    ("experiments.lstm_vs_transformer", ["--presets", "wide,small"], "not commas: --presets wide small."),
    ("experiments.long_memory", ["--lags", "5", "10,20"], "Lists take spaces, not commas: --lags 5 10 20."),
    ("benchmarks.lstm_speed", ["--cases", "ptb-small,mnist-bilstm"], "not commas: --cases ptb-small mnist-bilstm."),
    ("benchmarks.lstm_speed", ["--jit-compile", "true,false"], "not commas: --jit-compile true false."),
    ("benchmarks.variant_speed", ["--layers", "coupled,gru"], "not commas: --layers coupled gru."),
    ("benchmarks.model_speed", ["--models", "ptb-small,char-small"], "not commas: --models ptb-small char-small."),
    ("experiments.gate_pictures", ["run", "--units", "1,2"], "Lists take spaces, not commas: --units 1 2."),
    # values
    ("experiments.lstm_vs_transformer", ["--budgets", "abc"], "--budgets must be minutes above 0, such as 5 or 0.5; "
                                                              "got 'abc'."),
    ("experiments.lstm_vs_transformer", ["--budgets", "inf"], "--budgets must be minutes above 0"),
    ("experiments.lstm_vs_transformer", ["--nanogpt-batches", "0"], "--nanogpt-batches must be at least 1"),
    ("experiments.lstm_vs_transformer", ["--seed", "-1"], "--seed must be from 0 to 4,294,967,295"),
    ("experiments.variants", ["--parts", ""], "--parts: invalid choice: '' (choose from 'memory', 'char', 'mnist')."),
    ("experiments.variants", ["--parts"], "--parts: expected at least one argument."),
    ("experiments.variants", ["--models", "lstm2"], "--models: invalid choice: 'lstm2'"),
    ("experiments.variants", ["--seeds", "-1"], "--seeds must be from 0 to"),
    ("experiments.long_memory", ["--steps", "0"], "--steps must be at least 1 (a whole number); got '0'."),
    ("experiments.weight_averaging", ["--epochs", "0"], "--epochs must be at least 1"),
    ("experiments.weight_averaging", ["--model", "gpt"], "--model: invalid choice: 'gpt'"),
    ("experiments.gate_pictures", ["run", "--chars", "0"], "--chars must be at least 1"),
    ("benchmarks.model_speed", ["--precision", "float16"], "--precision: invalid choice: 'float16'"),
    ("benchmarks.model_speed", ["--rounds", "0"], "--rounds must be at least 1"),
    ("benchmarks.long_sequences", ["--loops", "while"], "--loops: invalid choice: 'while'"),
    ("benchmarks.explorer_speed", ["--repeats", "0"], "--repeats must be at least 1"),
    ("benchmarks.explorer_speed", ["--preset", "huge"], "--preset: invalid choice: 'huge'"),
    ("benchmarks.reproducibility", ["--repeats", "1"], "--repeats must be at least 2"),
    ("benchmarks.text_loading", ["--mb", "ten"], "--mb: invalid int value: 'ten'"),
])
def test_each_command_line_mistake_is_one_paragraph_and_writes_nothing(module, argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    extra = ["--output-dir", str(out)] if module in ("experiments.lstm_vs_transformer", "experiments.variants",
                                                     "experiments.long_memory", "experiments.weight_averaging") else []
    error = script_error(main_of(module), [*argv, *extra], capsys)
    assert message in error and "usage:" not in error and error.endswith("(--help lists the options.)")
    assert not out.exists()


def test_the_training_scripts_parse_as_the_experiments_do(capsys):
    """One parser for every entry point (training.messages.ArgumentParser): the same wording and the same hint."""
    import train_char_rnn

    error = script_error(train_char_rnn.main, ["--without", "tying,averaging"], capsys)
    assert error.startswith("error: --without: invalid choice: 'tying,averaging'") and "usage:" not in error
    assert error.endswith("Lists take spaces, not commas: --without tying averaging. (--help lists the options.)")


def test_the_parser_loads_no_keras_so_experiments_parse_before_the_start_up():
    import subprocess
    import sys

    code = "import sys, experiments, training.messages; assert not {'keras', 'tensorflow', 'jax'} & set(sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_old_commas_and_names_are_gone_from_the_docs_and_usage_lines():
    lists = "seeds|budgets|presets|parts|models|cases|layers|units|lags|loops|jit-compile|num-steps"
    old = re.compile(rf"--({lists})(=| )[\w.-]+,|--eval-batches|--mixed-bfloat16|--repeat\b|long_sequences --steps")
    files = [*glob.glob(os.path.join(ROOT, "docs", "*.md")), os.path.join(ROOT, "README.md"),
             os.path.join(ROOT, "benchmarks", "gpu_figures.sh"),
             *glob.glob(os.path.join(ROOT, "experiments", "*.py")), *glob.glob(os.path.join(ROOT, "benchmarks", "*.py"))]
    history = "benchmarks/model_speed.py --models char-small,"  # speed.md: runs of older versions, which took commas
    found = [f"{os.path.relpath(path, ROOT)}: {match[0]}" for path in files
             for match in old.finditer(" ".join(open(path, encoding="utf-8").read().split()).replace(history, ""))]
    assert found == []


def test_model_speed_knows_the_precisions_of_the_scripts():
    from training.precision import PRECISIONS

    assert tuple(benchmark("model_speed").PRECISIONS) == tuple(PRECISIONS)


# ---- output folders and results files ---------------------------------------------------------------------------

def unwritable_folders(tmp_path):
    (tmp_path / "file").write_text("")
    folders = [tmp_path / "file" / "out", "/proc/out", "/sys"]  # under a file; a folder no one may create or fill
    if os.geteuid():  # root writes in a read-only folder
        read_only = tmp_path / "read-only"
        read_only.mkdir(mode=0o555)
        folders += [read_only, read_only / "out"]
    return folders


@pytest.mark.parametrize("module, argv", [
    ("experiments.lstm_vs_transformer", ["--presets", "test", "--budgets", "0.01", "--nanogpt-batches", "1"]),
    ("experiments.variants", ["--seeds", "0", "--parts", "memory", "--models", "gru"]),
    ("experiments.long_memory", ["--lags", "3", "--steps", "1"]),
    ("experiments.weight_averaging", ["--epochs", "1", "--steps-per-epoch", "1"]),
])
def test_an_output_dir_that_cannot_be_written_is_one_paragraph_before_any_training(module, argv, tmp_path, capsys,
                                                                                   monkeypatch):
    monkeypatch.setattr(variants, "recall", lambda *a: pytest.fail("trained"))
    monkeypatch.setattr(long_memory, "build", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setattr(weight_averaging, "run", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setattr(lstm_vs_transformer, "train_preset", lambda *a: pytest.fail("trained"))
    for folder in unwritable_folders(tmp_path):
        message = script_error(main_of(module), [*argv, "--output-dir", str(folder)], capsys)
        assert f"--output-dir {folder} cannot be written to (" in message, message
        assert message.endswith("choose a folder you can write to. Nothing was run or written.")


def test_gate_pictures_check_the_folder_of_the_picture_before_the_work(capsys, monkeypatch):
    import types

    monkeypatch.setattr(gate_pictures, "load_language_model", lambda *a, **k: (None, types.SimpleNamespace(kind="chars")))
    monkeypatch.setattr(gate_pictures, "layer_trace", lambda *a: pytest.fail("computed"))
    message = script_error(gate_pictures.main, ["run", "--output", "/sys/gates.png"], capsys)
    assert "the folder of the picture /sys cannot be written to (Permission denied)" in message


@pytest.mark.parametrize("content, why", [
    ('{"memory/gru/bias1.0/lag50/seed0/steps300": {"accuracy": 0.5', "Expecting"),  # cut off mid-write
    ("[1, 2]", "it holds a JSON list, not an object"),
    (b"\xff\xfe", "codec can't decode"),
])
def test_a_damaged_variants_json_is_named_with_the_fix(content, why, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(variants, "recall", lambda *a: pytest.fail("trained"))
    path = tmp_path / "variants.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    message = script_error(variants.main, ["--parts", "memory", "--models", "gru", "--output-dir", str(tmp_path)],
                           capsys)
    assert message.startswith(f"error: {path} (the finished trainings of this experiment) is damaged and cannot "
                              f"be read: ") and why in message
    assert ("Delete it or move it away (every training then runs again: move the char/ and mnist/ folders beside "
            "it away too; or choose another --output-dir). Nothing was run or written.") in message
    assert sorted(os.listdir(tmp_path)) == ["variants.json"] and path.read_bytes() == (
        content if isinstance(content, bytes) else content.encode())


def test_the_explorer_benchmark_without_data_is_one_paragraph(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LSTM_OFFLINE", "1")
    monkeypatch.delenv("LSTM_DATA_DIR", raising=False)
    monkeypatch.setenv("LSTM_CACHE_DIR", str(tmp_path / "cache"))
    assert "Cannot find the tinyshakespeare data file" in script_error(
        benchmark("explorer_speed").main, ["--preset", "wide"], capsys)


# ---- progress ---------------------------------------------------------------------------------------------------

def test_variants_prints_a_line_per_training_and_the_time_left_once_one_is_timed(tmp_path, monkeypatch, capsys):
    import itertools
    import types

    ticks = itertools.count()
    monkeypatch.setattr(variants, "time", types.SimpleNamespace(perf_counter=lambda: 30.0 * next(ticks)))
    monkeypatch.setattr(variants, "recall", lambda *a: {"accuracy": 0.5, "seconds": 30.0})
    monkeypatch.setattr(variants, "plot", lambda *a: None)
    config = variants.Config(seeds=(0, 1), lags=(3,), forget_biases=(1.0,), memory_steps=5)
    variants.run(config, str(tmp_path), parts=("memory",), models=("vanilla", "gru"))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("[", "memory/", "4 "))]
    assert lines[:3] == [
        f"4 training(s) to run (0 done before, kept in {tmp_path / 'variants.json'})",
        "[1/4] recall, vanilla, bias 1, lag 3, seed 0, 5 steps ...",
        "memory/vanilla/bias1.0/lag3/seed0/steps5: {'accuracy': 0.5, 'seconds': 30.0} (30 s; 3 left, about 1.5 min)"]
    assert lines[3] == "[2/4] recall, vanilla, bias 1, lag 3, seed 1, 5 steps ..."
    assert lines[-2] == "[4/4] recall, gru, bias 1, lag 3, seed 1, 5 steps ..."
    assert lines[-1].endswith("(30 s; all done)")
    variants.run(config, str(tmp_path), parts=("memory",), models=("vanilla", "gru"))  # all kept: no training
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]


def test_the_time_left_counts_each_part_at_its_own_mean_and_the_rest_at_the_mean_of_all():
    jobs = [("char/gru/seed0/steps3", "", None), ("char/gru/seed1/steps3", "", None),
            ("mnist/gru/seed0/steps3", "", None)]
    assert variants.time_left(jobs, {}) == ""
    assert variants.time_left(jobs, {"memory": [10.0, 20.0]}) == "; 3 left, about 45 s"
    assert variants.time_left(jobs, {"memory": [30.0], "char": [90.0]}) == "; 3 left, about 4.0 min"
    assert variants.time_left([], {"memory": [1.0]}) == "; all done"


@pytest.mark.slow  # the MNIST BiLSTM built and compiled
def test_model_speed_workers_build_and_step_the_scripts_models():
    """A worker's steps, in this process: `benchmarks.lstm_speed` found as a module (under `python -m` there is no
    benchmarks/ on sys.path)."""
    steps = benchmark("model_speed").keras_steps("mnist-default", "custom", "auto", "train_on_batch", 1)
    steps()
