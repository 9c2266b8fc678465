"""Word-level language model on Penn Treebank: the PTB example of 《TensorFlow实战》.

That example is TensorFlow's `ptb_word_lm.py` tutorial (after Zaremba, Sutskever
& Vinyals 2014, "Recurrent Neural Network Regularization"): an embedding, a
stack of LSTMs that carries its state from batch to batch through the text,
and a softmax over the 10,000 words; plain SGD with gradient clipping and a
learning rate that decays after `max_epoch` epochs. Here it runs on this
project's LSTM (or `--cell builtin`) in Keras 3, on any backend.

    python train_ptb.py --preset small                     # 2-core CPU, TensorFlow
    KERAS_BACKEND=jax python train_ptb.py --preset medium  # GPU

Results (perplexity on PTB; TensorFlow's table and ours; ours measured with
`python train_ptb.py --preset small [--lr-schedule book]` on a 2-core CPU,
TensorFlow backend, 2026-11-23; the README has the details):

    | preset          | TF valid | TF test | ours valid | ours test      |
    |-----------------|----------|---------|------------|----------------|
    | small           | 121.39   | 115.91  | 119.15     | 113.55         |
    | small, book lr  |          |         | 138.41     | 133.18         |
    | medium          | 86.16    | 82.07   | not yet measured (GPU) |     |
    | large           | 82.62    | 78.29   | not yet measured (GPU) |     |
"""

import dataclasses

from training.cli import lstm_layer_class, open_run, parse_script_args, preset_config
from training.errors import UserError, friendly_main


@dataclasses.dataclass(frozen=True)
class Config:
    init_scale: float = 0.1    # every weight starts uniform in ±init_scale (LSTM biases at 0)
    learning_rate: float = 1.0 # plain SGD
    max_grad_norm: float = 5.0 # clip the gradients' global norm
    num_layers: int = 2        # stacked LSTMs
    num_steps: int = 20        # unrolled steps: the truncated-BPTT length
    hidden_size: int = 200     # LSTM units, and the word-embedding width
    max_epoch: int = 4         # epochs at the full learning rate
    max_max_epoch: int = 13    # epochs in all
    keep_prob: float = 1.0     # dropout keeps this fraction (embedding output and every LSTM output)
    lr_decay: float = 0.5      # learning-rate factor per epoch after max_epoch
    batch_size: int = 20       # parallel streams through the text
    vocab_size: int = 10_000   # PTB's vocabulary
    lr_schedule: str = "tutorial"  # "tutorial", or "book": the book's code decays after max_max_epoch, i.e. never
    test_num_steps: int = 35   # window of the final test pass (batch 1, state carried: any value gives the same result)


PRESETS = {  # TensorFlow's ptb_word_lm.py configs
    "small": Config(),
    "medium": Config(init_scale=0.05, num_steps=35, hidden_size=650, max_epoch=6, max_max_epoch=39,
                     keep_prob=0.5, lr_decay=0.8),
    "large": Config(init_scale=0.04, max_grad_norm=10.0, num_steps=35, hidden_size=1500, max_epoch=14,
                    max_max_epoch=55, keep_prob=0.35, lr_decay=1 / 1.15),
    "test": Config(max_grad_norm=1.0, num_layers=1, num_steps=2, hidden_size=2, max_epoch=1, max_max_epoch=1),
}


def learning_rate(config, epoch):
    """lr · lr_decay^max(epoch + 1 − max_epoch, 0), epoch counted from 0 (the book: max_max_epoch)."""
    start_decay = config.max_max_epoch if config.lr_schedule == "book" else config.max_epoch
    return config.learning_rate * config.lr_decay ** max(epoch + 1 - start_decay, 0)


def build_model(config, cell, batch_size=None, num_steps=None, stateful=True, seed=0):
    """Embedding → dropout → [LSTM → dropout] × num_layers → dense logits over the vocabulary."""
    import keras

    uniform = lambda offset: keras.initializers.RandomUniform(-config.init_scale, config.init_scale, seed=seed + offset)  # noqa: E731
    rate = 1.0 - config.keep_prob
    lstm = lstm_layer_class(cell)
    tokens = keras.Input(batch_size=batch_size, shape=(num_steps,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(config.vocab_size, config.hidden_size, embeddings_initializer=uniform(0), name="embedding")(tokens)
    x = keras.layers.Dropout(rate, seed=seed, name="embedding_dropout")(x)
    for layer in range(config.num_layers):
        x = lstm(config.hidden_size, return_sequences=True, stateful=stateful, unit_forget_bias=False,
                 kernel_initializer=uniform(10 * layer + 1), recurrent_initializer=uniform(10 * layer + 2),
                 bias_initializer="zeros", name=f"lstm_{layer}")(x)
        x = keras.layers.Dropout(rate, seed=seed + layer + 1, name=f"lstm_{layer}_dropout")(x)
    logits = keras.layers.Dense(config.vocab_size, kernel_initializer=uniform(100), bias_initializer=uniform(101),
                                name="softmax")(x)
    return keras.Model(tokens, logits, name="ptb_lm")


def compile_for_training(model, config):
    import keras

    from training.metrics import sequence_loss

    optimizer = keras.optimizers.SGD(config.learning_rate, global_clipnorm=config.max_grad_norm)
    model.compile(optimizer=optimizer, loss=sequence_loss)
    return model


def add_arguments(parser):
    parser.add_argument("--lr-schedule", choices=["tutorial", "book"], help="learning-rate decay (default tutorial)")


@friendly_main
def main(argv=None):
    args = parse_script_args(__doc__.split("\n\n")[0], PRESETS, "small", "ptb", argv, add_arguments)
    config = preset_config(PRESETS, args, max_max_epoch=args.epochs, lr_schedule=args.lr_schedule)
    run, state, config, settings = open_run(args, "train_ptb.py", config, "max_max_epoch")

    import keras

    from datasets import load_ptb
    from training.language_model import (compile_evaluator, evaluate_perplexity, fit_epochs, stream_rows,
                                         whole_stream_rows)
    from training.run import atomic_save_model

    train, valid, test, vocabulary = load_ptb(args.data_dir)
    if len(vocabulary) != config.vocab_size:
        raise UserError(f"the PTB vocabulary has {len(vocabulary)} words, the preset expects {config.vocab_size}.")
    run.write_json("vocab.json", {"type": "words", "tokens": vocabulary})
    x_train, y_train = stream_rows(train, config.batch_size, config.num_steps)
    x_valid, y_valid = stream_rows(valid, config.batch_size, config.num_steps)
    steps = x_train.shape[0] // config.batch_size
    if args.steps_per_epoch:
        steps = min(steps, args.steps_per_epoch)
        x_train, y_train = x_train[: steps * config.batch_size], y_train[: steps * config.batch_size]

    keras.utils.set_random_seed(args.seed)
    if state is None:
        model = build_model(config, args.cell, config.batch_size, config.num_steps, seed=args.seed)
        compile_for_training(model, config)
    else:
        model = run.load_checkpoint(state)
        print(f"Resuming {run.path} after epoch {state['epoch']}.")
    evaluator = compile_evaluator(build_model(config, args.cell, config.batch_size, config.num_steps))
    print(f"PTB {args.preset}: {config.num_layers}×{config.hidden_size} {args.cell} LSTM, "
          f"{model.count_params():,} parameters, {steps} steps of {config.batch_size}×{config.num_steps} words per epoch, "
          f"backend {keras.backend.backend()}")

    def valid_perplexity(trained):  # the tutorial's valid pass: batch 20, state carried
        evaluator.set_weights(trained.get_weights())
        return evaluate_perplexity(evaluator, x_valid, y_valid, config.batch_size)

    history = fit_epochs(
        run, model, (x_train, y_train), batch_size=config.batch_size, tokens_per_sequence=config.num_steps,
        epochs=config.max_max_epoch, state=state, settings=settings, learning_rate=lambda e: learning_rate(config, e),
        evaluate_valid=valid_perplexity, title=f"PTB {args.preset}, {args.cell} cell", unit="word")

    tester = compile_evaluator(build_model(config, args.cell, 1, config.test_num_steps))
    tester.set_weights(model.get_weights())
    x_test, y_test, w_test = whole_stream_rows(test, config.test_num_steps)
    test_ppl = evaluate_perplexity(tester, x_test, y_test, 1, sample_weight=w_test)
    portable = build_model(config, args.cell, stateful=False)  # any batch size and length
    portable.set_weights(model.get_weights())
    atomic_save_model(portable, run.file("model.keras"))
    results = {"test_perplexity": test_ppl, "valid_perplexity": history[-1]["valid_perplexity"] if history else None,
               "train_seconds": sum(row["epoch_seconds"] for row in history)}
    run.write_json("results.json", results)
    print(f"Test perplexity {test_ppl:.2f} (whole test stream, batch 1, state carried). Run folder: {run.path}")
    return results


if __name__ == "__main__":
    main()
