"""gradproof: the command line and the Python API over derive/, graphs/ and verify/.

From Python, your own forward (see verify/expression.py for the language)::

    >>> from gradproof import derive_expression
    >>> result = derive_expression("L = sum(X ⊙ X)", {"X": "n,d"})
    >>> [(r.target, r.status.label) for r in result.results]
    [('dX', 'proved')]

``check_forward`` (verify/expression_check.py) checks its compiled gradient against autograd and
``build_expression_report`` (gradproof/expression_report.py) writes its report; both are loaded on
first use, so importing gradproof stays light.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["build_expression_report", "check_forward", "derive_expression", "read_forward"]


def __getattr__(name: str) -> Any:
    if name == "derive_expression":
        from .expressions import derive_expression

        return derive_expression
    if name == "read_forward":
        from verify.expression import read_forward

        return read_forward
    if name == "check_forward":
        from verify.expression_check import check_forward

        return check_forward
    if name == "build_expression_report":
        from .expression_report import build_expression_report

        return build_expression_report
    raise AttributeError(f"module 'gradproof' has no attribute {name!r}")
