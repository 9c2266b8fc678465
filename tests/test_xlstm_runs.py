"""The xLSTM through the scripts: train_char_rnn.py --preset xlstm-*, sampled, scored on nanoGPT's validation both
ways, refused where an LSTM cell is asked for (the layers' own checks: tests/test_xlstm.py)."""

import json
import math

import pytest

import sample
import train_char_rnn
import train_ptb
from tests.conftest import history, script_error


def test_xlstm_run_trains_samples_and_reports_nanogpts_view(xlstm_run):
    out, results, _ = xlstm_run
    rows = history(out)
    valid = [float(row["valid_nats"]) for row in rows]
    assert len(valid) == 2 and valid[1] < valid[0] < 3.3  # the unigram entropy is about 3.3 nats
    settings = json.load(open(out / "config.json"))
    assert settings["model"]["kind"] == "xlstm" and settings["model"]["block_pattern"] == "xLSTM[1:1]"
    # AdamW's warm-up over 10 steps to 1e-2 (the rate at the first step), then the cosine to 1e-3 over 80 steps
    assert float(rows[0]["learning_rate"]) == pytest.approx(1e-2 / 11, rel=1e-4)
    assert float(rows[1]["learning_rate"]) == pytest.approx(1e-3 + 0.5 * (1 + math.cos(math.pi * 30 / 70)) * 9e-3,
                                                            rel=1e-4)
    # read in order with its state carried (as an LSTM), and in nanoGPT's windows from a zero state
    assert results["nanogpt_val_carried"] < 3.3 and results["nanogpt_val_windows_64"] < 3.3
    assert "=== epoch 2" in (out / "samples.txt").read_text()


def test_xlstm_run_samples_the_same_text_for_a_seed(xlstm_run, capsys):
    out = str(xlstm_run[0])
    ids = sample.main([out, "--prime", "ROMEO:", "--length", "60", "--seed", "3"])
    assert len(ids) == 60 and capsys.readouterr().out.startswith("ROMEO:")
    assert ids == sample.main([out, "--prime", "ROMEO:", "--length", "60", "--seed", "3"])


def test_xlstm_refusals_are_one_paragraph(xlstm_run, capsys):
    for argv in (["--preset", "xlstm-test", "--cell", "builtin"], ["--preset", "xlstm-test", "--variant", "coupled"]):
        message = script_error(train_char_rnn.main, argv, capsys)
        assert "xlstm-test preset's model (xLSTM) has no such choice. Leave them out." in message
    assert "Leave them out" in script_error(train_ptb.main, ["--preset", "xlstm-test", "--cell", "gru"], capsys)
    import explore

    assert "xLSTM" in script_error(explore.main, [str(xlstm_run[0])], capsys)
