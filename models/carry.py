"""State carried from one batch to the next by the xLSTM layers (`SLSTM`, `MLSTM`, `CausalConv1D`) when stateful.

The state lives in non-trainable variables of the layer, created in `build`
for the batch size the model is built with, read at the start of a call and
assigned at its end. As `keras.layers.RNN`'s states (and models.sequence's),
they are listed in the layer's `variables`, so that JAX's stateless training
loop hands them on from step to step, but not in its `weights`: a model's
weights are the same at any batch size (training, then scoring at batch 1)
and a saved model holds no state.
"""

import keras
from keras import ops

# Keras' own way (keras.layers.RNN._create_state_variables) to create a variable the layer does not track as a
# weight; not exported under `keras` in Keras 3.15.
from keras.src.utils import tracking


class CarriedState:
    """Mixin of a Keras layer with `stateful` and a state of several arrays (see the module docstring)."""

    @tracking.no_automatic_dependency_tracking
    def build_carry(self, batch_size, shapes):
        """Creates one zero variable (batch_size, *shape) per entry of `shapes` ({name: shape}) when stateful."""
        self.carried = []
        if not self.stateful:
            return
        if batch_size is None:
            raise ValueError(
                f"a stateful {type(self).__name__} keeps one state per row of the batch, so it needs a fixed batch "
                f"size; got None. Build the model with keras.Input(batch_size=...), or pass stateful=False.")
        with keras.name_scope(self.name, caller=self):
            self.carried = [keras.Variable(ops.zeros((batch_size, *shape)), trainable=False, autocast=False,
                                           name=f"{name}_state") for name, shape in shapes.items()]

    @property
    def variables(self):
        variables = super().variables
        known = {id(v) for v in variables}
        return variables + [v for v in getattr(self, "carried", []) if id(v) not in known]

    def carried_state(self):
        """The carried state as tensors (stateful), else None."""
        return [ops.convert_to_tensor(v) for v in self.carried] if self.carried else None

    def carry_on(self, states):
        """Keeps `states` for the next call (stateful), without a gradient into the previous batch."""
        for variable, state in zip(self.carried, states):
            variable.assign(ops.stop_gradient(ops.cast(state, variable.dtype)))

    def reset_state(self):
        """Zeros the carried state (the start of a new text)."""
        for variable in self.carried:
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    # keras.Model.reset_state() asks its layers for reset_states in some versions.
    reset_states = reset_state
