"""The benchmarks: their arguments, their arithmetic, and short runs of them."""

import os
import re
import shlex
import subprocess

import pytest

from tests.conftest import ROOT, benchmark


@pytest.mark.parametrize("argv, message", [
    (["--jit-compile", "maybe"], "--jit-compile: invalid choice: 'maybe'"),
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--steps", "0"], "--steps must be at least 1"),
])
def test_speed_benchmark_arguments(argv, message, capsys):
    lstm_speed = benchmark("lstm_speed")
    with pytest.raises(SystemExit) as exit_info:
        lstm_speed.main(["--cases", "ptb-small"] + argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_model_speed_counts_the_flops_of_each_model_by_hand():
    """2 · multiply-adds of the matrix products of one step, forward, times 3 for forward and backward."""
    model_speed = benchmark("model_speed")
    ptb = 2 * (2 * 20 * 20 * (200 + 200) * 4 * 200) + 2 * 20 * 20 * 200 * 10_000  # 2 LSTMs, the softmax
    char = 2 * 32 * 50 * (64 + 256) * 4 * 256 + 2 * 32 * 50 * (256 + 256) * 4 * 256 + 2 * 32 * 50 * 256 * 65
    mnist = (2 * 2 * 128 * 28 * (28 + 128) * 4 * 128 + 2 * 2 * 128 * 28 * (256 + 128) * 4 * 128  # two BiLSTMs
             + 2 * 128 * 256 * 10)  # the softmax reads the last step only
    assert [model_speed.flops_per_step(name) for name in model_speed.MODELS] == [3 * ptb, 3 * char, 3 * mnist]
    assert 3 * ptb == 6_336_000_000


def fake_clock(monkeypatch, module, seconds):
    """The module's time.perf_counter advances by `seconds` at every call."""
    import itertools
    import types

    ticks = itertools.count()
    monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks) * seconds))


MATMUL_GFLOPS = 2 * 2048**3 * 5 / 0.5 / 1e9  # five 2048² products in 0.5 s


def test_model_speed_backend_worker_times_five_products(monkeypatch, capsys):
    model_speed = benchmark("model_speed")
    fake_clock(monkeypatch, model_speed, 0.5)
    model_speed.backend_matmul_worker()
    assert float(capsys.readouterr().out) == pytest.approx(MATMUL_GFLOPS, rel=1e-12)


@pytest.mark.slow  # the backend's matmul in a fresh process
def test_model_speed_ceiling_is_timed_with_numpy_and_with_the_backend(monkeypatch):
    # The backend's own library (oneDNN on TensorFlow) can beat NumPy's BLAS by half: both are printed.
    import math

    model_speed = benchmark("model_speed")
    fake_clock(monkeypatch, model_speed, 0.5)  # this process's clock; the worker's is real
    (numpy_gflops, numpy_name), (backend_gflops, backend_name) = model_speed.matmul_gflops()
    assert numpy_name == "NumPy, 2048²" and numpy_gflops == pytest.approx(MATMUL_GFLOPS, rel=1e-12)
    assert backend_name.endswith("keras.ops.matmul, 2048²") and math.isfinite(backend_gflops) and backend_gflops > 0


@pytest.mark.slow  # two fresh processes
def test_the_awd_test_model_trains_to_the_same_bits_in_two_processes(data_dir, capsys):
    # What the exact resume tests rely on; benchmarks/reproducibility.py is the check for the big presets.
    reproducibility = benchmark("reproducibility")
    reproducibility.main(["--preset", "awd-test", "--steps", "3", "--repeats", "2", "--data-dir", data_dir])
    out = capsys.readouterr().out
    assert "awd-test, custom cell, 3 steps: 1 different set(s) of weights in 2 fresh processes" in out
    assert "differs by up to" not in out


@pytest.mark.parametrize("argv", [["--repeats", "1"], ["--steps", "0"]])
def test_reproducibility_check_needs_two_repeats_and_a_step(argv, capsys):
    reproducibility = benchmark("reproducibility")
    with pytest.raises(SystemExit) as exit_info:
        reproducibility.main(["--preset", "awd-test"] + argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"{argv[0]} must be at least {2 if argv[0] == '--repeats' else 1}" in err


def test_text_loading_measures_both_paths_on_a_text_it_writes(data_dir, tmp_path, capsys):
    from datasets import split_words

    text_loading = benchmark("text_loading")
    path = tmp_path / "text.txt"
    size = text_loading.write_text(str(path), 1, data_dir)  # the text main writes, here kept to count it by hand
    text = path.read_text(encoding="utf-8")
    assert 999_990 < size <= 1_000_000 and "Über Ästhetik — 日本語 ☃" in text
    train_words = split_words(text)
    other_words = split_words("ROMEO: what say you?\n" * 1000)  # main's valid.txt and test.txt
    capsys.readouterr()
    text_loading.main(["--mb", "1", "--data-dir", data_dir])
    printed = capsys.readouterr().out
    assert f"text of {size / 1e6:.1f} MB" in printed
    rows = {line.split(" | ")[0].strip("| "): line.strip("|").split(" | ") for line in printed.splitlines()
            if line.startswith("| train_")}
    assert list(rows) == ["train_char_rnn.py --text (characters)", "train_ptb.py --corpus (words)"]
    chars, words = rows.values()
    assert chars[1:3] == [f"{len(text):,}", f"{len(set(text)):,}"]
    outside = bool(set(other_words) - set(train_words))  # then the vocabulary has <unk> too
    assert words[1:3] == [f"{len(train_words) + 2 * len(other_words):,}", f"{len(set(train_words)) + outside:,}"]
    for row in (chars, words):  # the measured columns: their formats (their values are this machine's)
        assert re.fullmatch(r"\d+\.\d", row[3]) and re.fullmatch(r"-?\d+ MiB", row[4]), row
        assert re.fullmatch(r"-?\d+\.\d\d", row[5].strip(" |")), row


GPU_FIGURES = os.path.join(ROOT, "benchmarks", "gpu_figures.sh")


def test_gpu_figures_trainings_name_real_scripts_and_presets():
    import importlib

    trainings = dict(re.findall(r'^\s*\[([\w-]+)\]="([^"]+)"', open(GPU_FIGURES).read(), re.MULTILINE))
    assert set(trainings) == {"ptb-medium", "ptb-medium-highest", "ptb-medium-bf16", "ptb-medium-builtin",
                              "char-large", "mnist", "ptb-large", "ptb-awd", "char-xlstm-large"}
    for name, command in trainings.items():
        script, *argv = shlex.split(command)
        presets = importlib.import_module(script.removesuffix(".py")).PRESETS
        if "--preset" in argv:
            assert argv[argv.index("--preset") + 1] in presets, name
        if "--cell" in argv:
            assert argv[argv.index("--cell") + 1] in ("custom", "builtin"), name
        if "--matmul-precision" in argv:
            assert argv[argv.index("--matmul-precision") + 1] in ("default", "highest"), name
        if "--precision" in argv:
            assert argv[argv.index("--precision") + 1] in ("float32", "mixed_bfloat16"), name
    compared = re.search(r"lstm_vs_transformer --presets ([\w -]+?) --budgets", open(GPU_FIGURES).read()).group(1)
    assert set(compared.split()) <= set(importlib.import_module("train_char_rnn").PRESETS)


@pytest.mark.parametrize("argv, message", [
    ([], "usage: bash benchmarks/gpu_figures.sh speed | train | only NAME... | compare | watch SECONDS"),
    (["only", "ptb-huge"], "unknown training ptb-huge; choose from"),
])
def test_gpu_figures_refuses_what_it_does_not_know(argv, message, tmp_path):
    result = subprocess.run(["bash", GPU_FIGURES, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "GPU_RUNS": str(tmp_path / "runs")})
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "runs" / "chain.log").exists()  # nothing started


@pytest.mark.parametrize("argv, message", [
    (["--layers", "gru", "lstm2"], "--layers: invalid choice: 'lstm2'"),
    (["--cases", "huge"], "--cases: invalid choice: 'huge'"),
    (["--rounds", "0"], "--rounds must be at least 1"),
])
def test_variant_speed_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmark("variant_speed").main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.slow  # three models compiled
def test_variant_speed_times_each_layer_against_vanilla(capsys):
    found = benchmark("variant_speed").main(["--cases", "ptb-small", "--layers", "coupled", "gru", "--rounds", "1",
                                             "--steps", "1"])
    assert list(found["ptb-small"]) == ["vanilla", "coupled", "gru"]
    assert all(ms > 0 for ms in found["ptb-small"].values())
    out = capsys.readouterr().out
    assert "| ptb-small | vanilla |" in out and "| 1.00 |" in out


@pytest.mark.slow  # three small models compiled
def test_xlstm_speed_times_the_lstm_and_both_xlstms_at_equal_parameters(capsys):
    found = benchmark("xlstm_speed").main(["--units", "8", "--layers", "1", "--heads", "2", "--rounds", "1",
                                           "--steps", "1"])
    rows = found["char"]
    assert list(rows) == ["lstm", "slstm", "mlstm"] and all(ms > 0 for _, _, ms in rows.values())
    lstm_parameters = rows["lstm"][1]
    # each xLSTM's width is the multiple of the heads whose parameter count comes nearest the LSTM's
    assert all(abs(count - lstm_parameters) < 0.1 * lstm_parameters and width % 2 == 0
               for width, count, _ in rows.values())
    out = capsys.readouterr().out
    assert "| char 32×50 | LSTM | 8 | 7,625 |" in out and "| xLSTM[1:0] ×1 |" in out and "| 1.00 |" in out


def test_xlstm_speed_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmark("xlstm_speed").main(["--models", "gru"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--models: invalid choice: 'gru'" in err and "Traceback" not in err
