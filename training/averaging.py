"""Averaged SGD as AWD-LSTM uses it (NT-ASGD, Merity, Keskar & Socher 2017), and a windowed variant.

Plain SGD until the validation perplexity has not improved for `patience`
epochs ("non-monotonically triggered"), then SGD that also keeps the running
mean of its iterates (Polyak & Juditsky 1992): after k averaged steps,

    w̄_k = w̄_{k−1} + (w_k − w̄_{k−1}) · a_k,   a_k = 1/k,   i.e. w̄_k = (w_1 + … + w_k) / k.

Training goes on from the raw iterates w_k; the validation and test passes and
the saved model use w̄. With `average_window` N > 0 the weight is
a_k = max(1/k, 1/N): the plain mean for the first N steps, then an exponential
average whose memory is about N steps, so that early iterates stop weighing on
w̄ as training moves on (what a short budget needs: docs/experiments.md's
measurement). Keras' optimizers offer `use_ema`, an exponential average with a
fixed momentum, but `fit` writes it into the model at the end of every call
(every epoch here), and it never is the plain mean; so the average is kept here,
in optimizer variables that the checkpoint saves (a resumed run averages on
exactly). Differences from AWD-LSTM's `torch.optim.ASGD(t0=0, lambd=0)`: none
in the average itself (window 0); the trigger compares perplexities of whole
epochs, as AWD-LSTM does, but counts `patience` in epochs of this script's
(possibly shortened) length. `AveragedAdam` averages Adam's iterates the same way.
"""

import keras
from keras import ops

from models import SERIALIZATION_PACKAGE


def average_weight(k, window, dtype):
    """a_k of the module's update: 1/k, or max(1/k, 1/window) with a window; 0 where k < 1 (not averaging yet)."""
    k = ops.cast(k, dtype)
    weight = 1.0 / ops.maximum(k, 1.0)
    if window:
        weight = ops.maximum(weight, 1.0 / window)
    return ops.where(k >= 1, weight, 0.0)


def update_average(optimizer, average, variable, k, window):
    """One step of the module's update of `average` towards `variable` (the k-th averaged step; k < 1: no change)."""
    optimizer.assign_add(average, (variable - average) * average_weight(k, window, variable.dtype))


# `optimizer._get_variable_index(variable)`: Keras 3 has no public way to find a variable's slot in the lists of
# `add_optimizer_variables`; this is the one its Optimizer docstring's example and every built-in optimizer use, and
# on TensorFlow it maps a replica's copy of a distributed variable to its index, which an id() map could not.
def with_averages(optimizer, model, averages):
    """`model.get_weights()` with every trained weight replaced by its entry in `averages` (the optimizer's order)."""
    trainable = {id(v): averages[optimizer._get_variable_index(v)] for v in model.trainable_variables}
    return [ops.convert_to_numpy(trainable.get(id(v), v)) for v in model.weights]


class IterateAveraging:
    """Keeps the average of an optimizer's iterates once `start_averaging()` is called (mixed into SGD, Adam).

    Args:
        average_window: 0 (default) for the plain mean of every iterate since
            averaging began; N > 0 for a_k = max(1/k, 1/N) (see the module).
        Every other argument is the optimizer's own.
    """

    def __init__(self, *args, average_window=0, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(average_window, bool) or not isinstance(average_window, int) or average_window < 0:
            raise ValueError(f"average_window is a number of steps, 0 or more; got {average_window!r}.")
        self.average_window = average_window

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.averages = self.add_optimizer_variables(variables, "average")
        # The iteration at which averaging started; −1: not (yet) averaging.
        self.average_start = self.add_variable((), initializer=keras.initializers.Constant(-1),
                                               dtype=self.iterations.dtype, name="average_start")

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient, variable, learning_rate)
        start = self.average_start
        # The k-th averaged step (the iteration counter moves on after all variables); 0 before averaging.
        k = ops.where(start >= 0, self.iterations - start + 1, 0)
        index = self._get_variable_index(variable)  # no public equivalent: see `with_averages`
        update_average(self, self.averages[index], variable, k, self.average_window)

    def start_averaging(self):
        """Averages from the next step on (call between epochs)."""
        # A number, not the counter's array: under JAX two variables must not share one buffer.
        self.average_start.assign(int(ops.convert_to_numpy(self.iterations)))

    @property
    def averaging(self):
        return self.built and int(ops.convert_to_numpy(self.average_start)) >= 0

    @property
    def averaged_steps(self):
        return int(ops.convert_to_numpy(self.iterations - self.average_start)) if self.averaging else 0

    def averaged_weights(self, model):
        """`model.get_weights()` with every trained weight replaced by its average."""
        return with_averages(self, model, self.averages)

    def get_config(self):
        return {**super().get_config(), "average_window": self.average_window}


class ScheduledAverages:
    """Keeps several averages of an optimizer's iterates side by side, each from its own step (for studies).

    Args:
        averages: {name: (first step, counted from 0; window)}: the average
            `name` takes in the iterates from that step on, with a_k as in the
            module (window 0: the plain mean). Training is not changed.
        Every other argument is the optimizer's own.
    """

    def __init__(self, *args, averages, **kwargs):
        super().__init__(*args, **kwargs)
        self.schedule = dict(averages)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.averages = {name: self.add_optimizer_variables(variables, f"average_{index}")
                         for index, name in enumerate(self.schedule)}

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)  # no public equivalent: see `with_averages`
        for name, (first_step, window) in self.schedule.items():
            update_average(self, self.averages[name][index], variable, self.iterations - first_step + 1, window)

    def averaged_weights(self, model, name):
        """`model.get_weights()` with every trained weight replaced by the average `name`."""
        return with_averages(self, model, self.averages[name])


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class AveragedSGD(IterateAveraging, keras.optimizers.SGD):
    """Keras' SGD (with its clipping and weight decay) that averages its iterates once `start_averaging()` is called."""


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class AveragedAdam(IterateAveraging, keras.optimizers.Adam):
    """Keras' Adam that averages its iterates once `start_averaging()` is called."""


def evaluation_weights(model):
    """The weights to evaluate and save: the averages once averaging has started, else the model's own."""
    optimizer = model.optimizer
    if isinstance(optimizer, IterateAveraging) and optimizer.averaging:
        return optimizer.averaged_weights(model)
    return model.get_weights()


def start_averaging_if_due(optimizer, valid_history, after=0, patience=0):
    """Switches `optimizer` to averaging, between epochs, when it is due; says so and returns True then.

    Due after `after` epochs (0: never by count), or when the validation
    figures `valid_history` (one per finished epoch, lower is better) have not
    improved for `patience` epochs (NT-ASGD's trigger; 0: never by trigger).
    """
    if not isinstance(optimizer, IterateAveraging) or optimizer.averaging:
        return False
    if not (not_improving(valid_history, patience) or (after and len(valid_history) >= after)):
        return False
    optimizer.start_averaging()
    window = optimizer.average_window
    how = f"over a window of ~{window} steps" if window else "the plain mean of the iterates"
    print(f"Averaging the weights from epoch {len(valid_history) + 1} on ({how}).", flush=True)
    return True


def not_improving(valid_perplexities, patience):
    """NT-ASGD's trigger: the last epoch is worse than the best of all but the last `patience` epochs."""
    return bool(patience) and len(valid_perplexities) > patience and \
        valid_perplexities[-1] > min(valid_perplexities[:-patience])
