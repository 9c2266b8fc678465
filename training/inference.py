"""Using a finished run: its model rebuilt from config.json with model.keras's weights, and sampling from it."""

import functools
import os

import numpy as np

from datasets import EOS, Vocabulary
from models import LANGUAGE_MODEL_KINDS, build_model, spec_from_dict
from training.errors import UserError
from training.language_model import reset_states
from training.run import read_json

SCRIPTS = {"language_model": "train_ptb.py or train_char_rnn.py", "digit_classifier": "train_mnist_bilstm.py"}


def load_run_model(run_dir, kind, lstm_only=False, families=None, **shape):
    """The model of a run folder, built from its spec (config.json) at `shape`, with the weights of model.keras.

    Args:
        run_dir: The --output-dir of a training run.
        kind: The model kind the caller can use ("language_model", which
            takes a transformer too, or "digit_classifier").
        lstm_only: Refuse a model that is not an LSTM (a tool that looks inside one).
        families: Refuse a model whose family ("LSTM", "GRU", "transformer", ...) is not one of these (a tool that
            looks inside those cells).
        **shape: batch_size, num_steps, stateful for a language model.

    Returns:
        (model, settings): settings is the run's config.json.
    """
    what = f"a run folder of {SCRIPTS[kind]}"
    if not os.path.isdir(run_dir):
        raise UserError(f"the run folder {run_dir} does not exist; give {what} (its --output-dir).")
    config_path, model_path = os.path.join(run_dir, "config.json"), os.path.join(run_dir, "model.keras")
    if not os.path.isfile(config_path):
        raise UserError(f"{run_dir} holds no config.json: it is not {what}.")
    settings = read_json(config_path, "the run's settings")
    spec = settings.get("model") if isinstance(settings, dict) else None
    if not isinstance(spec, dict):
        raise UserError(f"{config_path} names no model: the run was not started or was written by an older "
                        f"version of this project; train it again.")
    if spec.get("kind") not in (LANGUAGE_MODEL_KINDS if kind == "language_model" else (kind,)):
        raise UserError(f"{run_dir} is a run of {settings.get('script', 'another script')}, not {what}.")
    try:
        spec = spec_from_dict(spec)
    except (TypeError, ValueError) as error:
        raise UserError(f"{config_path} describes a model this version cannot build ({error}); the file is damaged "
                        f"or from another version: train the run again.") from None
    if lstm_only and spec.family != "LSTM":
        raise UserError(f"{run_dir} holds a {spec.family} (the {settings.get('preset')} preset), which has no LSTM "
                        f"cell state and no gates i, f, o to look inside: give a run of an LSTM (an LSTM preset, "
                        f"--cell custom with any --variant, or builtin). sample.py samples and scores this one.")
    if families and spec.family not in families:
        raise UserError(f"the model of {run_dir} is of the {spec.family} family (the {settings.get('preset')} "
                        f"preset); this tool computes and draws only the cells of {' and '.join(families)} runs: give "
                        f"a run of one of those (an LSTM preset, or any --cell and --variant of train_char_rnn.py or "
                        f"train_ptb.py). sample.py samples and scores this one.")
    resume = f"python {settings.get('script', 'train_char_rnn.py')} --output-dir {run_dir} --resume"
    if not os.path.isfile(model_path):
        if os.path.isfile(os.path.join(run_dir, "state.json")):
            raise UserError(f"{run_dir} has finished epochs but no model.keras (the kept model): the file was moved "
                            f"or deleted. `{resume}` writes it again from the last checkpoint when that holds the "
                            f"kept model, and says so when it does not.")
        raise UserError(f"{run_dir} holds no model.keras yet: it is written when the first epoch ends.")
    try:
        model = build_model(spec, **shape)
    except ValueError as error:  # a transformer asked for a state, or a window past its block
        raise UserError(f"{run_dir} holds a {spec.kind} model, which this cannot use: {error}") from None
    try:
        model.load_weights(model_path)
    except Exception as error:  # a truncated or foreign archive: Keras raises many kinds
        raise UserError(f"{model_path} cannot be read ({type(error).__name__}: {str(error)[:200]}); the file is "
                        f"damaged. `{resume}` writes it again from the last checkpoint when that holds the kept "
                        f"model, and says so when it does not.") from None
    return model, settings


def load_language_model(run_dir, lstm_only=False, **shape):
    """(model, vocabulary) of a train_ptb.py or train_char_rnn.py run; see `load_run_model`."""
    model, _ = load_run_model(run_dir, "language_model", lstm_only, **shape)
    return model, load_vocabulary(run_dir, model)


def load_vocabulary(run_dir, model=None):
    """The vocabulary of a language-model run (its vocab.json), checked against the `model` it goes with."""
    vocab_path = os.path.join(run_dir, "vocab.json")
    if not os.path.isfile(vocab_path):
        raise UserError(f"{run_dir} holds no vocab.json; the run folder is incomplete.")
    try:
        vocabulary = Vocabulary.from_json(read_json(vocab_path, "the run's vocabulary"))
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{vocab_path} is not a vocabulary of this project ({error}); the file is damaged.") from None
    if model is not None and model.output_shape[-1] != len(vocabulary):
        raise UserError(f"{vocab_path} holds {len(vocabulary):,} tokens, but the run's model predicts one of "
                        f"{model.output_shape[-1]:,}: the file belongs to another run or was changed. Put the run's "
                        f"own vocab.json back, or train the run again.")
    return vocabulary


def line_start(vocabulary):
    """The prime of a sample that starts a new line: the ids of "\n" or `<eos>` (else of the first token)."""
    end = vocabulary.index.get("\n" if vocabulary.kind == "chars" else EOS, 0)
    return np.array([end], np.int32)


def new_sampler(build_model, spec):
    """The sampler of a language model of `spec` (or its dict): the LSTM's `Sampler`, a transformer's `ContextSampler`.

    Args:
        build_model: Builds the model of `spec` at a shape (`RunFolder.build_model`).
    """
    spec = spec_from_dict(spec)
    if spec.carries_state:
        return Sampler(build_model(batch_size=1, num_steps=1, stateful=True))
    return ContextSampler(build_model(batch_size=1, num_steps=spec.context_length), spec.context_length)


class Sampler:
    """Generates from a language model built with batch_size=1, num_steps=1, stateful=True, one token at a time."""

    def __init__(self, model):
        self.model = model

    @classmethod
    def from_run(cls, run_dir):
        """(sampler, vocabulary) of a finished language-model run (a `ContextSampler` for a transformer)."""
        model, settings = load_run_model(run_dir, "language_model")
        sampler = new_sampler(functools.partial(build_model, settings["model"]), settings["model"])
        sampler.model.set_weights(model.get_weights())
        return sampler, load_vocabulary(run_dir, model)

    def reset(self):
        reset_states(self.model)

    def feed(self, token):
        """Reads one token; returns the logits of the next one."""
        return np.asarray(self.model.predict_on_batch(np.array([[token]], np.int32)))[0, -1].astype(np.float64)

    def generate(self, prime_ids, length, temperature=1.0, top_k=0, greedy=False, seed=0):
        """`length` token ids after reading `prime_ids` from a zero state."""
        return list(self.stream(prime_ids, length, temperature, top_k, greedy, seed))

    def stream(self, prime_ids, length, temperature=1.0, top_k=0, greedy=False, seed=0):
        """The token ids of `generate`, each as soon as it is drawn."""
        rng = np.random.default_rng(seed)
        self.reset()
        logits = None
        for token in prime_ids:
            logits = self.feed(int(token))
        for _ in range(length):
            token = pick(logits, temperature, top_k, greedy, rng)
            yield token
            logits = self.feed(token)


class ContextSampler(Sampler):
    """Generates from a transformer built with batch_size=1, num_steps=block_size: nanoGPT's `generate`.

    It has no state: every token re-reads the context so far, cropped to the
    last `block_size` tokens. The context fills the window from the left and
    the rest is padding, which a causal model never looks at, so the window
    always has one shape.
    """

    def __init__(self, model, block_size):
        super().__init__(model)
        self.block_size, self.context = block_size, []

    def reset(self):
        self.context = []

    def feed(self, token):
        self.context = (self.context + [token])[-self.block_size:]
        window = np.zeros((1, self.block_size), np.int32)
        window[0, : len(self.context)] = self.context
        logits = np.asarray(self.model.predict_on_batch(window))
        return logits[0, len(self.context) - 1].astype(np.float64)


def pick(logits, temperature, top_k, greedy, rng):
    """The next token: the likeliest (greedy), or drawn from softmax(logits / temperature) over the top k."""
    if greedy:
        return int(np.argmax(logits))
    logits = logits / temperature
    if top_k and top_k < len(logits):
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits >= cutoff, logits, -np.inf)
    p = np.exp(logits - logits.max())
    return int(rng.choice(len(p), p=p / p.sum()))
