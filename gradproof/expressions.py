"""Your own gradients, from Python or the command line: a forward expression in; derivation,
graph, verification and report out.

The command line's ``--expr``, ``--shape NAME=DIMS``, ``--wrt NAMES`` and ``--domain NAME=DOMAIN``
(on ``derive``, ``verify``, ``graph`` and ``report``) and :func:`derive_expression` read the
forward with verify/expression.py and register it as a graph model, so it takes every route a
catalog model takes, and returns the same objects (``graphs.route.MatrixResult``).

>>> result = derive_expression("L = sum((X W - Y) ⊙ (X W - Y))", {"X": "n,d", "W": "d,k", "Y": "n,k"}, wrt=["W"])
>>> [(r.target, r.status.label) for r in result.results]
[('dW', 'proved')]
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command line's --help must not import SymPy: these load on first use
    from graphs.route import MatrixResult
    from verify.expression import Forward

__all__ = ["ExpressionDerivation", "add_expression_options", "derive_expression", "forward_from_args"]


@dataclass(frozen=True)
class ExpressionDerivation:
    """A forward's matrix-form gradients, each with the status the graph route earned for it."""

    forward: Forward
    results: list[MatrixResult]

    @property
    def ok(self) -> bool:
        return all(r.status.kind != "failed" for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """The document ``derive --expr --json`` prints."""
        from .render import matrix_results_json

        return {
            "expr": self.forward.text,
            "shapes": {name: [str(d) for d in shape] for name, shape in self.forward.shapes.items()},
            "wrt": list(self.forward.wrt),
            "domains": dict(self.forward.domains),
            "ok": self.ok,
            "matrix_form": matrix_results_json(self.results),
        }

    def text(self) -> str:
        """The terminal's rendering: the forward, its shapes, then the matrix form."""
        from .render import matrix_results_text

        shapes = ", ".join(f"{name}: {' x '.join(str(d) for d in shape)}" for name, shape in self.forward.shapes.items())
        return f"Forward: {self.forward.text}\nShapes: {shapes}\n\n" + matrix_results_text(self.results)

    def _repr_html_(self) -> str:  # a notebook shows the forward and its gradients typeset (gradproof/notebook.py)
        from .notebook import expression_html

        return expression_html(self)


def derive_expression(
    text: str, shapes: Mapping[str, str | Sequence[Any]], wrt: Iterable[str] | None = None,
    domains: Mapping[str, str] | None = None, name: str | None = None,
) -> ExpressionDerivation:
    """Read a forward, derive every gradient in matrix form by reverse mode, and establish each
    (the rules it uses proven, every adjoint checked entry by entry at small sizes).

    ``shapes`` maps each input to its sizes (``"n,d"``; a vector ``"k"`` is a column); ``wrt``
    (default: every input) the inputs with a gradient; ``domains`` their kinds for drawn examples.
    """
    from graphs.route import graph_results
    from verify.expression import read_forward, register

    forward = read_forward(text, shapes, wrt=wrt, domains=domains, name=name)
    register(forward)
    return ExpressionDerivation(forward, graph_results(forward.name))


def add_expression_options(parser: argparse.ArgumentParser) -> None:
    """``--expr``, ``--shape``, ``--wrt`` and ``--domain`` on a command."""
    group = parser.add_argument_group(
        "your own forward", "instead of a catalog name: a forward expression, e.g. --expr \"L = sum((X W - Y) ⊙ (X W - Y))\" "
        "--shape X=n,d --shape W=d,k --shape Y=n,k --wrt W (see verify/expression.py for the language)")
    group.add_argument("--expr", metavar="FORWARD", help="steps NAME = expression separated by ; or new lines, the last "
                       "one the loss (1 x 1); repeat l = 1..N { ... } for stacked layers")
    group.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                       help="an input's shape: sizes by name or number (X=n,d; a vector b=k is a column; W_l=d,d "
                       "for every layer's W)")
    group.add_argument("--wrt", metavar="NAMES", help="the inputs with a gradient, comma-separated (default: all)")
    group.add_argument("--domain", action="append", default=[], metavar="NAME=DOMAIN",
                       help="an input's kind for drawn examples: real (default), positive, simplex, ...")
    group.add_argument("--name", dest="expr_name", default="forward", metavar="NAME",
                       help="what output files are called (default: forward, as in forward.html and forward.svg)")


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    from verify.expression import ExpressionError

    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ExpressionError(f"{flag} wants NAME=VALUE, like {flag} X=n,d; got {item!r}")
        if name.strip() in pairs:
            raise ExpressionError(f"{flag} {name.strip()} given twice")
        pairs[name.strip()] = value.strip()
    return pairs


def forward_from_args(args: argparse.Namespace) -> Forward | None:
    """The forward a command's ``--expr`` options describe, registered as a graph model (named by a
    hash of its text, so that a second forward in one process is never the first's compiled code);
    ``None`` without ``--expr``. Options that need ``--expr`` without it are refused."""
    from verify.expression import ExpressionError, read_forward, register

    if args.expr is None:
        if args.shape or args.wrt or args.domain:
            raise ExpressionError("--shape, --wrt and --domain describe a forward: give it with --expr")
        return None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", args.expr_name):
        raise ExpressionError(f"--name {args.expr_name!r}: a file name of letters, digits, _ and - (no folders); the "
                              "files go where -o says")
    if getattr(args, "names", None) or getattr(args, "all", False) or getattr(args, "name", None):
        raise ExpressionError("give catalog names or --expr, not both")
    wrt = [w.strip() for w in args.wrt.split(",") if w.strip()] if args.wrt else None
    forward = read_forward(args.expr, _pairs(args.shape, "--shape"), wrt=wrt, domains=_pairs(args.domain, "--domain"))
    register(forward)
    return forward


def claim_id(entry_name: str, wrt: str) -> str:
    """The ``entry:claim`` id of a forward entry's claim about ``dL/dwrt``.

    >>> claim_id("rmsnorm", "X")
    'rmsnorm:grad_X'
    """
    return f"{entry_name}:grad_{wrt}"


def derive_entry(name: str) -> tuple[ExpressionDerivation, dict[str, Any]]:
    """A catalog entry written as a forward (verify/forwards/): its matrix form, and each claim's
    status against the exact derivative."""
    from graphs.route import graph_results
    from verify.forwards import check_claims, entry, forward_of

    item = entry(name)
    forward = forward_of(item)
    statuses = check_claims(item)
    claims = [{"claim": claim_id(name, wrt), "wrt": wrt, "formula": text, "status": statuses[wrt].label,
               "detail": statuses[wrt].detail, "ok": statuses[wrt].kind != "failed"}
              for wrt, text in item.claims.items()]
    return ExpressionDerivation(forward, graph_results(name)), {"name": name, "title": item.title, "claims": claims,
                                                                 "source": item.source}


def entry_json(name: str) -> tuple[dict[str, Any], bool]:
    """``derive NAME --json`` for a forward entry, and whether anything failed."""
    derivation, about = derive_entry(name)
    ok = derivation.ok and all(c["ok"] for c in about["claims"])
    return {**about, **derivation.to_json(), "ok": ok}, not ok


def entry_text(name: str) -> tuple[str, bool]:
    """``derive NAME`` for a forward entry, and whether anything failed."""
    derivation, about = derive_entry(name)
    lines = [f"{about['title']}  ({name}; {about['source']})", "", "Claims (the lecture's notation), each against the "
             "exact derivative:"]
    lines += [f"  {c['claim']}: dL/d{c['wrt']} = {c['formula']}  [{c['status']}]" + ("" if c["ok"] else f"  {c['detail']}")
              for c in about["claims"]]
    failed = not derivation.ok or not all(c["ok"] for c in about["claims"])
    return "\n".join(lines) + "\n\n" + derivation.text(), failed


def entry_listing() -> list[dict[str, Any]]:
    """``gradproof list``'s rows for the entries written as forwards."""
    from verify.forwards import NAMES, entry

    rows = []
    for name in NAMES:
        item = entry(name)
        rows.append({"name": name, "title": item.title, "section": f"written as a forward (verify/forwards/{name}.py)",
                     "targets": [f"dL/d{wrt}" for wrt in item.claims]})
    return rows


def forward_targets_for(names: Sequence[str]) -> tuple[tuple[str, ...], list[Any]]:
    """``verify NAMES`` split: the catalog names left for verify/targets.py, and the targets of the
    entries written as forwards (all of them when ``names`` is empty). ``rmsnorm:grad_X`` (or
    ``rmsnorm.grad_X``, or ``rmsnorm:dL/dX``) picks one claim's."""
    from verify.expression import ExpressionError
    from verify.forwards import NAMES, entry, entry_targets

    catalog: list[str] = []
    targets: list[Any] = []
    for name in names or NAMES:
        head, _, claim = name.replace(".", ":", 1).partition(":")
        if head not in NAMES:
            catalog.append(name)
            continue
        found = [t for t in entry_targets(entry(head))
                 if not claim or claim in (t.name, f"grad_{t.matrix.adjoints[0]}")]
        if not found:
            known = ", ".join(claim_id(head, w) for w in entry(head).claims)
            raise ExpressionError(f"{head} has no claim {claim!r}; its claims are {known}")
        targets += found
    return tuple(catalog), targets


def check_named(names: Sequence[str], route: str = "both", progress: Any = None, **options: Any) -> list[Any]:
    """``verify NAMES``: the records of every named target (all when ``names`` is empty) on ``route``
    (``entrywise``, ``matrix`` or ``both``); an entry written as a forward has the matrix route only.
    ``options`` go to ``verify.check.run_check`` (device, dtype, examples, size, seed). An unknown
    name raises KeyError with its message.

    >>> records = check_named(["information:dKL/dq"], "matrix", examples=2)
    >>> [(r.target, r.route, r.passed) for r in records]
    [('dKL/dq', 'matrix', True)]
    """
    from verify.check import run_check
    from verify.targets import targets_for

    if route not in ("entrywise", "matrix", "both"):
        raise ValueError(f"route {route!r}: use entrywise, matrix or both")
    catalog, forwards = forward_targets_for(tuple(names))
    targets = targets_for(catalog) if catalog or not names else []  # no names: the whole catalog
    routes = ("entrywise", "matrix") if route == "both" else (route,)
    records = run_check(targets, routes, progress=progress and progress("verify"), **options) if targets else []
    if forwards and "matrix" in routes:
        records += run_check(forwards, ("matrix",), progress=progress and progress("verify forwards"), **options)
    return records

