"""See inside a trained LSTM or GRU language model: one HTML page that runs it in the browser, as you type.

    python explore.py runs/char-wide                       # writes runs/char-wide/explore.html
    python explore.py runs/ptb-small --text my.txt --output ptb.html

The page holds the model's weights and runs its forward pass in JavaScript
(no network, no server): each character (or word) of the text box coloured by
one unit's tanh(C_t), h_t or gate (a GRU's h_t, z_t, r_t, h̃_t), the model's top-5 guesses under the mouse,
the units that track a signal of the text (position in the line, quotes,
brackets, ...), the units most active on a selected span, the gate saturation
per layer, and sampling. Its API, `window.lstm`, is described in docs/explorer.md.
"""

import json
import os

from training import startup  # first: the backend's environment, set before Keras loads

from datasets import EOS, UNK, read_text
from explorer import page_html
from explorer.export import default_passage, page_size_text, payload
from training.cli import ArgumentParser, check_data_dir
from training.errors import UserError, friendly_main
from training.files import atomic_write
from training.inference import load_run_model, load_vocabulary

FAMILIES = ("LSTM", "GRU")  # the recurrent cells the page computes and draws
MAX_PASSAGE = 20_000  # tokens of --text placed in the page's box (the page recomputes all of it on every edit)


def parse_args(argv):
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", help="run folder of train_char_rnn.py or train_ptb.py (an LSTM or a GRU), or of "
                                        "experiments.state_tracking.save_run_folder")
    parser.add_argument("--text", metavar="FILE", help="the page's first text (default: the start of the run's test "
                                                       "split)")
    parser.add_argument("--output", metavar="PAGE", help="the HTML file to write (default: RUN/explore.html)")
    parser.add_argument("--data-dir", help="where the run's data lies (default: as the training scripts look)")
    args = parser.parse_args(argv)
    check_data_dir(args.data_dir)
    return args


def title_of(settings, run_dir):
    spec = settings["model"]
    name = os.path.basename(os.path.normpath(run_dir))
    script = settings.get("script", "").replace(".py", "").replace("train_", "")
    shape = f"{spec['layers']} × {spec['units']}" + (", tied" if spec.get("tie_weights") else "")
    return f"{name}: {script} {settings.get('preset', '')}, {spec.get('cell', 'custom')} cell, {shape}"


def tokens_text(tokens, kind):
    """Tokens back to text as the tokenizer cut it: characters joined; words by spaces, <eos> as line ends."""
    if kind == "chars":
        return "".join(tokens)
    lines, line = [], []
    for token in tokens:
        if token == EOS:
            lines.append(" ".join(line) + "\n")
            line = []
        else:
            line.append(token)
    return "".join(lines) + " ".join(line)


def own_passage(path, vocabulary):
    """The page's first text from --text: at most MAX_PASSAGE tokens; notes on what the page will skip."""
    passage = read_text(path, what="--text file")
    if not passage.strip():
        raise UserError(f"the --text file {path} holds no text; give a file with some of it.")
    tokens = vocabulary.split(passage)
    where = path
    if len(tokens) > MAX_PASSAGE:
        print(f"note: the page starts with the first {MAX_PASSAGE:,} of the {len(tokens):,} tokens of {path}; "
              f"paste more into its box if you like.")
        tokens, where = tokens[:MAX_PASSAGE], "the part placed in the page"
        passage = tokens_text(tokens, vocabulary.kind)
    unknown = vocabulary.unknown(tokens)
    if unknown and not (vocabulary.kind == "words" and UNK in vocabulary.index):
        listed = ", ".join(json.dumps(u, ensure_ascii=False) for u in unknown[:10])
        more = f" and {len(unknown) - 10:,} more" if len(unknown) > 10 else ""
        print(f"note: {len(unknown):,} tokens of {where} are not in the model's vocabulary; the page shows them "
              f"struck through and skips them: {listed}{more}.")
    return passage


@friendly_main
def main(argv=None):
    startup.start_devices()
    args = parse_args(argv)
    model, settings = load_run_model(args.run_dir, "language_model", families=FAMILIES, batch_size=1, num_steps=None,
                                     stateful=False)
    vocabulary = load_vocabulary(args.run_dir, model)
    passage = own_passage(args.text, vocabulary) if args.text else default_passage(settings, vocabulary.kind,
                                                                                   args.data_dir)
    output = args.output or os.path.join(args.run_dir, "explore.html")
    if os.path.isdir(output):
        raise UserError(f"--output {output} is a folder; give the name of the HTML file to write.")
    html = page_html(payload(model, vocabulary, settings, passage, title_of(settings, args.run_dir)))
    try:
        atomic_write(output, html)
    except OSError as error:
        raise UserError(f"cannot write {output}: {error.strerror}. Give another --output.") from None
    print(f"Wrote {output} ({page_size_text(output)}): open it in a browser; it needs no network and no server.")
    return output


if __name__ == "__main__":
    main()
