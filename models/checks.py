"""Checks of the layers' and specs' arguments: each rule worded once, naming the argument and an example."""


def check_positive(name, value, example):
    """`value` if a positive integer, else a ValueError naming the argument and an example."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}. Pass for example {name}={example}.")
    return value


def check_choice(name, value, choices):
    """`value` if one of `choices`, else a ValueError that lists them."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value


def check_heads(width, heads, what):
    """A ValueError unless `heads` divides `width` (of `what`)."""
    if width % heads:
        raise ValueError(f"{what} of width {width} cannot be split into {heads} heads of equal width: choose heads "
                         f"that divide {width} (for example heads=1), or a width that is a multiple of {heads}.")


def check_rate(name, value):
    """`value` as a float if a dropout rate in [0, 1), else a ValueError naming the argument and an example."""
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"`{name}` is the fraction of units to drop and must lie in [0, 1); got {value!r}. "
            f"Pass for example {name}=0.5, or 0 to switch it off."
        )
    return float(value)
