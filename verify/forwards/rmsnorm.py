"""RMSNorm (Zhang and Sennrich, 2019; LLaMA's normalisation): layer norm without the centring.

Each row x of X is divided by its root mean square, then scaled by the gain g:
``y = x / sqrt(mean(x^2) + epsilon) ⊙ g``. With ``r = x / rms(x)`` the gradients are
``dL/dg = sum over rows of G ⊙ R`` and, per row, ``dL/dx = (g ⊙ G - r mean(g ⊙ G ⊙ r)) / rms(x)``.
"""

from verify.forwards import ForwardEntry

ENTRY = ForwardEntry(
    name="rmsnorm",
    title="RMS normalisation (RMSNorm)",
    forward="s = sqrt(rowmean(X ⊙ X) + epsilon); R = X / s; Y = R ⊙ (1 g^T); L = sum(G ⊙ Y)",
    shapes={"X": "n,d", "g": "d", "G": "n,d"},
    wrt=("X", "g"),
    domains={"X": "spread_rows"},
    claims={
        "g": "colsum(G ⊙ R)^T",
        "X": "(G ⊙ (1 g^T) - R ⊙ rowmean(G ⊙ (1 g^T) ⊙ R)) / s",
    },
    meaning={"X": "the rows to normalise", "g": "the gain (a column; applied to every row)",
             "G": "the upstream gradient dL/dY", "s": "each row's root mean square", "R": "the normalised rows"},
    source="Zhang and Sennrich, Root Mean Square Layer Normalization, 2019",
    # torch's own RMSNorm (its weight takes one gain vector, not a batch of them: the gain multiplies after)
    reference=lambda torch, t: (t["G"] * torch.nn.functional.rms_norm(t["X"], (t["X"].shape[-1],), eps=1e-5)
                                * t["g"].transpose(-2, -1)).sum((-2, -1)),
)
