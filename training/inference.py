"""Loading a run folder's language model and stepping it one token at a time."""

import json
import os

import numpy as np

from training.errors import UserError


def is_lstm(layer):
    import keras

    from models import LSTM

    return isinstance(layer, (LSTM, keras.layers.LSTM))


def restack(model, batch_size, num_steps, stateful=True):
    """The same stack of layers (fresh instances, copied weights) with a fixed input and stateful LSTMs.

    Works for the chain-shaped models of this project (tokens → ... → logits).
    """
    import keras

    inputs = keras.Input(batch_size=batch_size, shape=(num_steps,), dtype=model.inputs[0].dtype)
    x = inputs
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        config = layer.get_config()
        if is_lstm(layer):
            config.update(stateful=stateful, return_sequences=True)
        clone = layer.__class__.from_config(config)
        x = clone(x)
        clone.set_weights(layer.get_weights())
    return keras.Model(inputs, x)


class Vocabulary:
    """vocab.json of a run: {"type": "chars" | "words", "tokens": [...]}."""

    def __init__(self, kind, tokens):
        self.kind, self.tokens = kind, list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def split(self, text):
        return list(text) if self.kind == "chars" else text.replace("\n", " <eos> ").split()

    def encode(self, text, what="text"):
        pieces = self.split(text)
        unknown = list(dict.fromkeys(p for p in pieces if p not in self.index))
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:20]) + (" …" if len(unknown) > 20 else "")
            raise UserError(f"the {what} has {len(unknown)} {'characters' if self.kind == 'chars' else 'words'} "
                            f"that are not in the model's vocabulary: {shown}. Remove or replace them.")
        return np.array([self.index[p] for p in pieces], dtype=np.int32)

    def decode(self, ids):
        if self.kind == "chars":
            return "".join(self.tokens[i] for i in ids)
        return " ".join(self.tokens[i] for i in ids).replace(" <eos> ", "\n").replace("<eos>", "\n")


def load_run(run_dir):
    """(model, vocabulary) from a run folder written by train_ptb.py or train_char_rnn.py."""
    if not os.path.isdir(run_dir):
        raise UserError(f"the run folder {run_dir} does not exist; give the --output-dir of a finished training run.")
    model_path, vocab_path = os.path.join(run_dir, "model.keras"), os.path.join(run_dir, "vocab.json")
    for path in (model_path, vocab_path):
        if not os.path.isfile(path):
            raise UserError(f"{run_dir} holds no {os.path.basename(path)}: it is not a finished language-model run "
                            f"(train_ptb.py or train_char_rnn.py writes it at the end of training).")
    import keras

    import models  # noqa: F401  registers the custom LSTM
    import training.metrics  # noqa: F401  registers the loss and metric

    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)
    return keras.models.load_model(model_path, compile=False), Vocabulary(vocab["type"], vocab["tokens"])


class Sampler:
    """Generates from a language model, carrying the LSTM state one token at a time."""

    def __init__(self, model):
        self.stepper = restack(model, batch_size=1, num_steps=1)

    def reset(self):
        from training.language_model import reset_states

        reset_states(self.stepper)

    def feed(self, token):
        """Reads one token; returns the logits of the next one."""
        return np.asarray(self.stepper.predict_on_batch(np.array([[token]], np.int32)))[0, -1].astype(np.float64)

    def generate(self, prime_ids, length, temperature=1.0, top_k=0, greedy=False, seed=0):
        rng = np.random.default_rng(seed)
        self.reset()
        logits = None
        for token in prime_ids:
            logits = self.feed(int(token))
        out = []
        for _ in range(length):
            token = pick(logits, temperature, top_k, greedy, rng)
            out.append(token)
            logits = self.feed(token)
        return out


def pick(logits, temperature, top_k, greedy, rng):
    if greedy:
        return int(np.argmax(logits))
    logits = logits / temperature
    if top_k and top_k < len(logits):
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits >= cutoff, logits, -np.inf)
    p = np.exp(logits - logits.max())
    return int(rng.choice(len(p), p=p / p.sum()))
