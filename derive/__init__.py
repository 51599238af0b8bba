"""derive: exact SymPy derivations of the lecture's gradients (no torch here, ever).

>>> from derive import derive
>>> result = derive("softmax_ce").results[0]
>>> result.target, result.status.label
('dL/dz (general)', 'proved')
"""

from .catalog import NAMES, derive, topic
from .errors import GradproofError, SizeError, UnknownEntryError
from .spec import Claim, IndexForm, Topic, derive_topic, prove_claim
from .types import Derivation, Result, Status, Step, SymbolSpec

__all__ = [
    "NAMES", "derive", "topic", "GradproofError", "SizeError", "UnknownEntryError",
    "Claim", "IndexForm", "Topic", "derive_topic", "prove_claim",
    "Derivation", "Result", "Status", "Step", "SymbolSpec",
]
