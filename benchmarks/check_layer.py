"""check_layer on the example NumPy layers: seconds per example, forward calls per checked entry, and
how often the numerical reference needed its second, closer start (a kink or tie near an input).

Each right layer of tests/verify/layers/right_layers.py is checked at drawn sizes; the counts come
from wrapping the forward. Numbers are printed, never asserted.

    python benchmarks/check_layer.py [--examples 25]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "verify" / "layers"))
sys.path.insert(0, str(ROOT / "tests" / "verify"))

import numpy as np
import right_layers
from test_layers import CASES

from verify import layers
from verify.layers import InPlaceChange, check_layer

ENTRIES = {"n": 0}
_numeric_gradient = layers.numeric_gradient


def _counting(losses, arrays, which, scale=0.0):
    ENTRIES["n"] += arrays[which].size
    return _numeric_gradient(losses, arrays, which, scale)


layers.numeric_gradient = _counting  # counts the entries the reference differentiates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25)
    args = parser.parse_args()
    print(f"# check_layer, {args.examples} examples per layer; Python {platform.python_version()}, NumPy "
          f"{np.__version__}, {platform.processor() or platform.machine()}")
    print(f"{'layer':<26}{'s/example':>10}{'calls/entry':>13}{'entries':>9}")
    for case, (forward, backward, shapes, kwargs) in CASES.items():
        fwd = getattr(right_layers, forward)
        calls = {"n": 0}

        def counted(*a, _f=fwd, _calls=calls, **k):
            _calls["n"] += 1
            return _f(*a, **k)

        counted.__name__ = fwd.__name__
        bwd = getattr(right_layers, backward) if backward else None
        ENTRIES["n"] = 0
        options = {**kwargs, "examples": args.examples, "budget": None}
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InPlaceChange)
            report = check_layer(counted, bwd, shapes, **options)
        seconds = time.perf_counter() - start
        entries = {"n": ENTRIES["n"]}
        per_entry = calls["n"] / max(entries["n"], 1)
        print(f"{case:<26}{seconds / report.examples:>10.3f}{per_entry:>13.1f}{entries['n']:>9}")


if __name__ == "__main__":
    main()
