"""One-line Unicode text for matrix formulas, for picture labels and terminals (``Aᵀ G``, ``A ⊙ B``).

LaTeX comes from ``sympy.latex`` and our classes' ``_latex``; this printer is only for places
that cannot typeset: Graphviz labels, matplotlib text, a terminal.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .matrices import matmul, split_scalar

__all__ = ["formula_text"]


class _UnicodePrinter(StrPrinter):
    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return expr.name

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        if isinstance(expr.arg, sp.MatrixSymbol):
            return self._print(expr.arg) + "ᵀ"
        return f"({self._print(expr.arg)})ᵀ"

    def _factor(self, arg: sp.Basic) -> str:
        if isinstance(arg, (sp.MatMul, sp.HadamardProduct)):
            return f"({self._print(arg)})"
        return self.parenthesize(arg, PRECEDENCE["Mul"], strict=False)

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return " ⊙ ".join(self._factor(a) for a in expr.args)

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coefficient, matrices = expr.as_coeff_matrices()
        sign = ""
        if coefficient.could_extract_minus_sign():
            sign, coefficient = "-", -coefficient
        parts = [] if coefficient == 1 else [self.parenthesize(coefficient, PRECEDENCE["Mul"])]
        parts += [self.parenthesize(m, PRECEDENCE["Mul"], strict=False) for m in matrices]
        return sign + " ".join(parts)

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        # In the order the rule wrote them (1 - O, not -O + 1).
        out = []
        for number, term in enumerate(expr.args):
            coefficient, _ = split_scalar(term)
            negative = coefficient.could_extract_minus_sign()
            text = self._print(matmul(-1, term) if negative else term)
            if isinstance(term, sp.MatAdd):
                text = f"({text})"
            out.append(("-" if number == 0 else " - ") + text if negative else (text if number == 0 else " + " + text))
        return "".join(out)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        if expr.exp == sp.Rational(-1, 2):
            return f"1/√{self.parenthesize(expr.base, PRECEDENCE['Pow'])}"
        if expr.exp == sp.Rational(1, 2):
            return f"√{self.parenthesize(expr.base, PRECEDENCE['Pow'])}"
        return super()._print_Pow(expr, rational)


def formula_text(expr: sp.Basic) -> str:
    """A formula on one line with Unicode operators.

    >>> A, G = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("G", 2, 3)
    >>> formula_text(A.T * G)
    'Aᵀ G'
    >>> d = sp.Symbol("d_k", positive=True)
    >>> from graphs.matrices import add, hadamard, neg, scaled
    >>> formula_text(scaled(1 / sp.sqrt(d), hadamard(add(neg(A.T), A), A)))
    '1/√d_k ((A - Aᵀ) ⊙ A)'
    """
    return _UnicodePrinter().doprint(expr)
