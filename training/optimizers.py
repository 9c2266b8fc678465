"""The one optimizer factory of the scripts, benchmarks and experiments: SGD or Adam, clipped, averaged or not."""

import keras

from training.averaging import AveragedAdam, AveragedSGD, ScheduledAverages

OPTIMIZERS = {"sgd": (keras.optimizers.SGD, AveragedSGD), "adam": (keras.optimizers.Adam, AveragedAdam)}


def make_optimizer(name, learning_rate, *, clipnorm=0.0, weight_decay=0.0, averaging=False, average_window=0,
                   averages=None, beta_2=None):
    """A Keras optimizer.

    Args:
        name: "sgd" (plain SGD, as the PTB tutorial and AWD-LSTM) or "adam".
        learning_rate: The starting rate (the scripts set each epoch's), or a schedule of the steps.
        clipnorm: Clip the gradients' global norm to this (0: no clipping).
        weight_decay: Decoupled weight decay, as Keras applies it (0: none).
        averaging: Keep the average of the iterates (`training.averaging`),
            switched on by `start_averaging()` between epochs.
        average_window: The average's window in steps (0: the plain mean).
        averages: {name: (first step, window)}: several averages side by side
            (`training.averaging.ScheduledAverages`), for studies.
        beta_2: Adam's decay of its second moments (None: Keras' 0.999).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}.")
    plain, averaged = OPTIMIZERS[name]
    options = {"global_clipnorm": clipnorm or None, "weight_decay": weight_decay or None}
    if beta_2 is not None:
        options["beta_2"] = beta_2
    if averages:
        scheduled = type(f"Scheduled{plain.__name__}", (ScheduledAverages, plain), {})
        return scheduled(learning_rate, averages=averages, **options)
    if averaging:
        return averaged(learning_rate, average_window=average_window, **options)
    return plain(learning_rate, **options)
