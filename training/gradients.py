"""Gradients with respect to a model's inputs and weights, on whichever backend is active.

Keras has no backend-neutral `grad`; this is the one place that asks the
backend for one (TensorFlow's GradientTape, `jax.grad`, or torch autograd).
"""

import numpy as np

import keras


def gradients(model, inputs, loss_fn, wrt_inputs=False):
    """∂loss/∂(trainable variables), plus ∂loss/∂inputs if asked, as NumPy arrays.

    Args:
        model: A built Keras model (called in inference mode).
        inputs: A float array, the model's input.
        loss_fn: Maps the model's output to a scalar (keras.ops).
        wrt_inputs: Also return ∂loss/∂inputs, last.
    """
    backend = keras.backend.backend()
    inputs = np.asarray(inputs, dtype="float32")
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(model(x))
        grads = tape.gradient(loss, list(model.trainable_variables) + ([x] if wrt_inputs else []))
        return [np.asarray(g) for g in grads]
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_of(trainable, x):
            outputs, _ = model.stateless_call(trainable, non_trainable, x)
            return loss_fn(outputs)

        g_vars, g_x = jax.grad(loss_of, argnums=(0, 1))(trainable, inputs)
        return [np.asarray(g) for g in g_vars] + ([np.asarray(g_x)] if wrt_inputs else [])
    if backend == "torch":
        import torch

        x = torch.tensor(inputs, requires_grad=True)
        model.zero_grad()
        loss = loss_fn(model(x))
        targets = [v.value for v in model.trainable_variables] + ([x] if wrt_inputs else [])
        return [g.detach().cpu().numpy() for g in torch.autograd.grad(loss, targets)]
    raise NotImplementedError(f"no gradient helper for the {backend} backend")
