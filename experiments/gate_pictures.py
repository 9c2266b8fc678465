"""Gate pictures of a trained char-rnn: what the forget, input and output gates and the cell state do.

For a run folder of train_char_rnn.py, it runs a passage of text through the
model, takes the activations of one LSTM layer at every character
(`LSTM.gate_activations`), and

- finds the units whose cell state C_t tracks something visible in the text:
  being inside a speaker's name line ("ROMEO:"), the position in the line,
  the end of a sentence coming; it prints the best units for each and
- draws, for the chosen units, a heatmap of f_t, i_t, o_t and tanh(C_t) over
  the passage with every character under its column (PNG).

    python -m experiments.gate_pictures runs/<char-rnn run>
    python -m experiments.gate_pictures runs/<run> --layer 1 --units 12 40 --chars 160
"""

import os

from training import startup  # first: the backend's environment, set before Keras loads

import keras
import numpy as np

from datasets import load_shakespeare, read_text
from experiments import command_line, output_folder, parse, sorted_once, whole_number
from models import LSTMStack, lstm_layers
from training.errors import UserError, friendly_main
from training.figures import plt, save_figure
from training.inference import load_language_model


def text_features(text):
    """Per-character signals a unit might track, each a float array over the text."""
    position = np.zeros(len(text))
    name_line = np.zeros(len(text))
    column, line_start = 0, 0
    for index, char in enumerate(text):
        position[index] = column
        column = 0 if char == "\n" else column + 1
        if char == "\n" or index == len(text) - 1:
            line = text[line_start:index]
            if line.endswith(":") and line[:-1].replace(" ", "").isupper():
                name_line[line_start:index + 1] = 1.0
            line_start = index + 1
    in_word = np.array([c.isalpha() for c in text], dtype=float)
    return {"speaker-name line": name_line, "position in line": position, "inside a word": in_word}


def best_units(values, features, top=3):
    """For each feature, the units whose activation correlates most (|Pearson r|) with it."""
    centred = values - values.mean(axis=0)
    scale = np.sqrt((centred ** 2).sum(axis=0)) + 1e-12
    found = {}
    for name, feature in features.items():
        f = feature - feature.mean()
        r = (centred * f[:, None]).sum(axis=0) / (scale * (np.sqrt((f ** 2).sum()) + 1e-12))
        order = np.argsort(-np.abs(r))[:top]
        found[name] = [(int(u), float(r[u])) for u in order]
    return found


def layer_trace(model, layer_index, ids):
    """Gate activations of the layer_index-th LSTM of `model` for one sequence of token ids."""
    lstms = lstm_layers(model)
    if not 0 <= layer_index < len(lstms):
        raise UserError(f"--layer must be between 0 and {len(lstms) - 1}: the model has {len(lstms)} LSTM layers.")
    layer = lstms[layer_index]
    if not hasattr(layer, "gate_activations"):
        raise UserError(f"gate pictures need this project's LSTM (--cell custom, any --variant); this run's layers "
                        f"are {type(layer).__name__} ({type(layer).__module__}).")
    stack = next((s for s in model.layers if isinstance(s, LSTMStack) and any(l is layer for l in s.lstms)), None)
    if stack is None:
        return layer.gate_activations(keras.Model(model.inputs[0], layer.input)(ids[None, :]))
    below = keras.Model(model.inputs[0], stack.input)(ids[None, :])
    return layer.gate_activations(stack.input_of([id(l) for l in stack.lstms].index(id(layer)), below))


def plot_gates(trace, text, units, path, title):
    panels = [("f", "forget f_t", "Greens"), ("i", "input i_t", "Blues"), ("o", "output o_t", "Purples"),
              ("cell", "tanh(C_t)", "RdBu_r")]
    fig, axes = plt.subplots(len(units) * len(panels), 1, figsize=(max(8, len(text) * 0.13), 0.55 * len(units) * len(panels) + 1.2),
                             dpi=110, squeeze=False)
    for row, (unit, (key, label, cmap)) in enumerate((u, p) for u in units for p in panels):
        ax = axes[row, 0]
        values = trace[key][0, :, unit]
        if key == "cell":
            values, limits = np.tanh(values), (-1, 1)
        else:
            limits = (0, 1)
        ax.imshow(values[None, :], aspect="auto", cmap=cmap, vmin=limits[0], vmax=limits[1])
        ax.set_yticks([0], [f"unit {unit}: {label}"], fontsize=7)
        ax.set_xticks(range(len(text)), [{"\n": "⏎", " ": "␣"}.get(c, c) for c in text], fontsize=6, family="monospace")
        ax.tick_params(axis="x", length=0)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


@friendly_main
def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    parser.add_argument("run_dir", help="run folder of train_char_rnn.py (custom cell)")
    parser.add_argument("--layer", type=whole_number(0), default=0, help="which LSTM layer, from 0 (default 0)")
    parser.add_argument("--units", nargs="+", type=whole_number(0), metavar="UNIT",
                        help="the units to draw, sorted, each once (default: the best found)")
    parser.add_argument("--chars", type=whole_number(1), default=120, help="characters in the picture (default 120)")
    parser.add_argument("--text", help="a text file to read (default: the start of the test split)")
    parser.add_argument("--data-dir", help="as for train_char_rnn.py")
    parser.add_argument("--output", help="PNG path (default RUN/gates.png)")
    args = parse(parser, argv)

    model, vocab = load_language_model(args.run_dir, lstm_only=True)
    path = args.output or os.path.join(args.run_dir, "gates.png")
    output_folder(os.path.dirname(os.path.abspath(path)), "the folder of the picture")
    if vocab.kind != "chars":
        raise UserError("gate pictures are for character models (train_char_rnn.py runs).")
    if args.text:
        text = read_text(args.text)
    else:
        text = load_shakespeare(args.data_dir)[2][:3000]
    unknown = vocab.unknown(text)
    if unknown:
        raise UserError(f"the text has characters the model has never seen: {''.join(unknown[:20])!r}; remove them.")
    ids = vocab.encode(text)
    trace = layer_trace(model, args.layer, ids)
    found = best_units(trace["cell"][0], text_features(text))
    print(f"units of LSTM layer {args.layer} whose cell state C_t follows (Pearson r over {len(text):,} characters):")
    for name, units in found.items():
        print(f"  {name:<20} " + ", ".join(f"unit {u} (r = {r:+.2f})" for u, r in units))
    if args.units:
        units = list(sorted_once(args.units))
        width = trace["cell"].shape[-1]
        if max(units) >= width:
            raise UserError(f"--units must lie between 0 and {width - 1}: layer {args.layer} has {width} units.")
    else:
        units = list(dict.fromkeys(u for found_units in found.values() for u, _ in found_units[:1]))
    start = max(0, text.find("\n\n") + 2) if len(text) > args.chars + 200 else 0
    passage = slice(start, start + args.chars)
    short = {key: value[:, passage] for key, value in trace.items()}
    plot_gates(short, text[passage], units, path, f"LSTM layer {args.layer}: gates and cell state of units {units}")
    print(f"wrote {path}")
    return found


if __name__ == "__main__":
    main()
