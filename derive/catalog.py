"""The catalog: every lecture topic by name, loaded on first use.

Adding an entry is one row here and one module in ``derive/topics/``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from functools import cache

from .errors import UnknownEntryError
from .spec import Topic, derive_topic
from .types import Derivation, Status

__all__ = ["NAMES", "topic", "derive", "close_matches"]

# name -> module under derive.topics, in the lecture's order
_MODULES: dict[str, str] = {
    "perceptron": "perceptron",
    "bp": "bp",
    "softmax_ce": "softmax_ce",
    "information": "information",
    "attention": "attention",
    "multihead_attention": "multihead",
    "layernorm": "layernorm",
    "ffn": "ffn",
    "conv": "conv",
    "pooling": "pooling",
    "positional_encoding": "positional_encoding",
}
NAMES: tuple[str, ...] = tuple(_MODULES)


def close_matches(name: str) -> list[str]:
    """Catalog names that look like ``name`` (for error messages).

    >>> close_matches("softmax")
    ['softmax_ce']
    """
    matches = difflib.get_close_matches(name, NAMES, n=3, cutoff=0.5)
    prefixed = [n for n in NAMES if n.startswith(name) or name.startswith(n)]
    return list(dict.fromkeys(prefixed + matches))


@cache
def topic(name: str) -> Topic:
    """The (not yet derived) catalog entry ``name``.

    >>> topic("softmax_ce").title
    'Softmax cross-entropy'
    """
    if name not in _MODULES:
        near = close_matches(name)
        hint = f"; did you mean {', '.join(near)}?" if near else f"; known: {', '.join(NAMES)}"
        raise UnknownEntryError(f"no catalog entry named {name!r}{hint}")
    module = importlib.import_module(f"derive.topics.{_MODULES[name]}")
    return module.TOPIC


def derive(
    name: str,
    sizes: Mapping[str, int] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    proved: Mapping[str, Status] | None = None,
) -> Derivation:
    """Derive catalog entry ``name``: prove every claim (but those in ``proved``), return the ``Derivation``.

    >>> d = derive("softmax_ce")
    >>> [step.status.label for step in d.steps][:2]
    ['proved', 'proved']
    """
    return derive_topic(topic(name), sizes, progress, proved)
