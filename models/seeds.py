"""Seeds derived from a model's one seed, for each of its random layers."""

MAX_SEED = 2**32 - 1  # Keras' and NumPy's seeds are unsigned 32-bit


def derived_seed(seed, offset):
    """seed + offset, wrapped into the 32 bits a seed has (a seed near the top must not overflow)."""
    return (seed + offset) % (MAX_SEED + 1)
