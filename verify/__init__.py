"""Route 3: formulas compiled to torch and compared with torch autograd of independent torch code.

compile.py turns formulas into batched torch functions, reference.py holds the independent
implementations, strategies.py the Hypothesis inputs, targets.py the table of catalog targets,
check.py the comparison and its records, api.py ``check_gradient`` for your own backward,
layers.py ``check_layer`` for a NumPy layer as it is written.

``verify.check_gradient`` and ``verify.check_layer`` are loaded on first use, so importing
``verify.compile`` stays light.
"""

from typing import Any

__all__ = ["GradientMismatch", "check_gradient", "check_layer", "labels", "tensors"]


def __getattr__(name: str) -> Any:
    if name == "check_layer":
        from . import layers

        return layers.check_layer
    if name in ("labels", "tensors"):
        from . import strategies

        return getattr(strategies, name)
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'verify' has no attribute {name!r}")
