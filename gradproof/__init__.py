"""gradproof: the command line and the Python API over derive/, graphs/ and verify/.

From Python or Jupyter (what these return shows as typeset math, SVG and tables in a notebook;
examples/gradproof_tour.ipynb is a short tour)::

    >>> import gradproof
    >>> d = gradproof.derive("softmax_ce")            # exact derivation, steps with their status
    >>> d.results[1].target, d.results[1].status.label
    ('dL/dz', 'proved')
    >>> gradproof.check("softmax_ce:grad_z", "y_i - p_i").verdict   # grade an answer
    'incorrect'
    >>> g = gradproof.graph("attention")              # the computation graph, drawn with adjoints
    >>> str(g.backprop().adjoint["V"])
    'A.T*G'

``verify(name, examples=...)`` checks against torch autograd (records shown as a table),
``report_for(name, lang=...)`` builds the report ``gradproof report`` writes (``.save(folder)``).
Your own forward::

    >>> from gradproof import derive_expression
    >>> result = derive_expression("L = sum(X ⊙ X)", {"X": "n,d"})
    >>> [(r.target, r.status.label) for r in result.results]
    [('dX', 'proved')]

``check_forward`` (verify/expression_check.py) checks its compiled gradient against autograd and
``build_expression_report`` (gradproof/expression_report.py) writes its report. Everything is
loaded on first use, so importing gradproof stays light.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "build_expression_report", "check", "check_forward", "derive", "derive_expression", "graph", "read_forward",
    "report_for", "verify",
]

# name -> (module, attribute): imported on first use (SymPy, torch and networkx are slow to import)
_LAZY = {
    "derive": ("gradproof.notebook", "derive"),
    "graph": ("gradproof.notebook", "graph"),
    "verify": ("gradproof.notebook", "verify"),
    "check": ("gradproof.notebook", "check"),
    "report_for": ("gradproof.notebook", "report_for"),
    "derive_expression": ("gradproof.expressions", "derive_expression"),
    "read_forward": ("verify.expression", "read_forward"),
    "check_forward": ("verify.expression_check", "check_forward"),
    "build_expression_report": ("gradproof.expression_report", "build_expression_report"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gradproof' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
