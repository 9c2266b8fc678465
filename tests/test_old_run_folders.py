"""Run folders written before the averaging had one name (asgd_* in train_ptb.py), and transformer runs written when
its width and block were `units` and `num_steps`, still load, sample and resume."""

import json

import pytest

import sample
import train_char_rnn
import train_ptb

OLD_NAMES = {"average_after": "asgd_after", "average_window": "asgd_window", "average_patience": "asgd_patience"}
NEW_FIELDS = {"train_ptb.py": ("optimizer", "batch_layout"), "train_char_rnn.py": ("optimizer", "average_patience")}


def make_old(folder):
    """Rewrites a run folder of today's code into the earlier format: its config's names and its missing fields."""
    for name in ("config.json", "state.json"):
        path = folder / name
        saved = json.loads(path.read_text())
        settings = saved if name == "config.json" else saved["settings"]
        config = settings["config"]
        for field in NEW_FIELDS[settings["script"]]:
            del config[field]
        if settings["script"] == "train_ptb.py":
            settings["config"] = {OLD_NAMES.get(key, key): value for key, value in config.items()}
        if config.get("architecture") == "gpt":
            config["units"], config["num_steps"] = config.pop("width"), config.pop("block_size")
        path.write_text(json.dumps(saved))


def rows(folder):
    return [{k: v for k, v in row.items() if "second" not in k} for row in json.loads((folder / "state.json").read_text())["history"]]


def check_old_folder_resumes(tmp_path, main, argv):
    common = list(argv)
    whole, old = tmp_path / "whole", tmp_path / "old"
    main([*common, "--epochs", "2", "--output-dir", str(whole)])
    main([*common, "--epochs", "1", "--output-dir", str(old)])
    make_old(old)
    assert sample.main([str(old), "--length", "5"]) is not None  # loads and samples as it is
    results = main([*common, "--epochs", "2", "--output-dir", str(old), "--resume"])
    assert rows(old) == rows(whole)
    assert results["best_epoch"] == json.loads((whole / "results.json").read_text())["best_epoch"]
    config = json.loads((old / "config.json").read_text())["config"]
    assert not set(OLD_NAMES.values()) & set(config) and set(NEW_FIELDS[config_script(old)]) <= set(config)
    return config


def config_script(folder):
    return json.loads((folder / "config.json").read_text())["script"]


def own_text(tmp_path):
    """A small text (and a corpus folder of it): the format is what is tested, not the data set."""
    text = "the cat sat on the mat and the dog sat on the log\n" * 60
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split in ("train", "valid", "test"):
        (corpus / f"{split}.txt").write_text(text)
    (tmp_path / "text.txt").write_text(text)
    return corpus, tmp_path / "text.txt"


@pytest.mark.slow  # four short trainings
def test_an_old_ptb_folder_with_asgd_names_resumes_as_an_uninterrupted_run(tmp_path):
    corpus, _ = own_text(tmp_path)
    config = check_old_folder_resumes(tmp_path, train_ptb.main, ["--preset", "awd-test", "--steps-per-epoch", "5",
                                                                 "--corpus", str(corpus)])
    assert config["average_after"] == 1  # written back in today's names


@pytest.mark.slow  # four short trainings
def test_an_old_char_folder_resumes_as_an_uninterrupted_run(tmp_path):
    _, text = own_text(tmp_path)
    check_old_folder_resumes(tmp_path, train_char_rnn.main, ["--preset", "test", "--steps-per-epoch", "3",
                                                             "--text", str(text)])


@pytest.mark.slow  # four short trainings
def test_an_old_transformer_folder_resumes_as_an_uninterrupted_run(tmp_path):
    _, text = own_text(tmp_path)
    config = check_old_folder_resumes(tmp_path, train_char_rnn.main, ["--preset", "gpt-test", "--steps-per-epoch", "3",
                                                                      "--text", str(text)])
    assert config["width"] == 48 and config["block_size"] == 32  # written back in today's names
