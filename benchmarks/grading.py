"""Grading throughput: 1,000 mixed answers (right, wrong, hostile) through the real grading path.

Each answer goes through ``BoundedPool`` (forked workers, one per core by default, each answer
under a time limit), as ``gradproof grade`` runs it: parse, write out at the problem's sizes, the bounded symbolic step, numeric
comparison, diagnosis. Answers cycle through every problem; right answers are varied (a
different harmless constant factor each time, e.g. ``(3/3)``, which parsing folds away) and, every
other round, written another way (``REWRITTEN``: expanded or reordered, as students write them),
which takes the symbolic expansion or the sampling path. The numeric exercises' tables repeat as
they are. The hostile answers are all refused by the parser: the time limit is not exercised here.
Prints answers per second and the p50/p95/max latency, per verdict too, and the share of the
correct/incorrect verdicts decided by proof (method ``symbolic``) rather than by sampling
(``numeric``). Each round also has one near miss (``NEAR_MISSES``: wrong only far out, past a kink or
by a hair), which sampling in a small box grades correct. Numbers are printed, never asserted.

    python benchmarks/grading.py [--answers 1000] [--workers N] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verify.homework.problems import PROBLEMS
from verify.homework.worker import DEFAULT_WORKERS, BoundedPool

# one right and one wrong answer per problem; the right one is varied per use
ANSWERS = {
    "softmax_ce.grad_z": ("p_i - y_i", "y_i - p_i"),
    "softmax_ce.grad_z_general": ("p_i sum_k y_k - y_i", "p_i - y_i"),
    "bp.delta_output_sigmoid": ("(T_k - O_k) O_k (1 - O_k)", "(T_k - O_k)"),
    "bp.delta_output_linear": ("T_k - O_k", "(T_k - O_k) O_k (1 - O_k)"),
    "bp.delta_hidden": (
        "H_j (1 - H_j) sum_k delta_k w_kj",
        "H_j (1 - H_j) sum_k delta_k w_jk",
    ),
    "bp.update_w_output": ("w_kj + alpha delta_k H_j", "w_kj - alpha delta_k H_j"),
    "bp.update_w_hidden": ("w_ji + alpha delta_j I_i", "w_ji + delta_j I_i"),
    "attention.grad_V": ("A^T G", "G^T A"),
    "attention.grad_A": ("G V^T", "V G^T"),
    "attention.grad_S": (r"A \odot (dA - rowsum(dA \odot A))", "A .* dA"),
    "attention.grad_Q": ("dS K / sqrt(d_k)", "dS K"),
    "attention.grad_K": ("dS^T Q / sqrt(d_k)", "dS Q / sqrt(d_k)"),
    "perceptron.update_w": ("w_i - eta (y - t) x_i", "w_i + eta (y - t) x_i"),
    "perceptron.update_b": ("b - eta (y - t)", "b + eta (y - t)"),
    "kl.grad_q": ("-p_i/q_i", "p_i/q_i"),
    "kl.grad_p": ("log(p_i/q_i) + 1", "log(p_i/q_i)"),
    "kl.grad_z": ("q_i - p_i", "p_i - q_i"),
    "information.grad_entropy": ("-(log(p_i) + 1)", "-log(p_i)"),
    "layernorm.grad_x": (
        "(d gamma_i g_i - sum_j gamma_j g_j - xhat_i sum_j gamma_j g_j xhat_j) / (d sigma)",
        "gamma_i g_i / sigma",
    ),
    "ffn.grad_W1": ("X^T ((G W_2^T) .* S)", "X^T (G W_2^T)"),
    "pooling.grad_max": ("g ismax(x_i, x_1, x_2, x_3, x_4)", "g / 4"),
    "conv.grad_W": (
        "sum_i sum_j G_ij X_{i+u-1,j+v-1}",
        "sum_i sum_j G_ij X_{i+v-1,j+u-1}",
    ),
}

# right answers written another way (expanded, reordered), as students do: these do not fold to the
# key's own form when parsed, so they take the symbolic step's expansion or the sampling path
REWRITTEN = {
    "softmax_ce.grad_z": "exp(z_i)/sum_k exp(z_k) - y_i",
    "softmax_ce.grad_z_general": "sum_j(y_j) p_i - y_i",
    "bp.delta_output_sigmoid": "T_k O_k - T_k O_k^2 - O_k^2 + O_k^3",
    "bp.delta_hidden": "H_j sum_k delta_k w_kj - H_j^2 sum_k w_kj delta_k",
    "bp.update_w_output": "w_kj + alpha H_j delta_k",
    "perceptron.update_w": "w_i + eta t x_i - eta y x_i",
    "attention.grad_Q": r"\frac{1}{\sqrt{d_k}} dS K",
    "attention.grad_S": "hadamard(A, dA) - hadamard(A, rowsum(hadamard(dA, A)))",
    "kl.grad_p": "1 + log(p_i) - log(q_i)",
    "information.grad_entropy": r"-\ln p_i - 1",
    "layernorm.grad_x": "(gamma_i g_i - (1/d) sum_j gamma_j g_j - xhat_i (1/d) sum_j gamma_j g_j xhat_j) / sigma",
    "conv.grad_W": "sum_j sum_i X_{i+u-1,j+v-1} G_{i,j}",
}


def _exercise_answers() -> dict[str, tuple[str, str]]:
    """The numeric exercises: the exact table, and the same with its last row wrong."""
    from verify.homework.exercises import EXERCISES, _key

    out = {}
    for exercise_id in EXERCISES:
        rows = [" ".join(str(v) for v in values) for _, values in _key(exercise_id)]
        out[exercise_id] = (
            "\n".join(rows),
            "\n".join([*rows[:-1], "0 " * len(_key(exercise_id)[-1][1])]),
        )
    return out


_EXERCISES = _exercise_answers()
ANSWERS |= _EXERCISES
# wrong answers that hide from sampling in a small box (far out, past a kink, by a hair): each is
# proved wrong at a witness point
NEAR_MISSES = [
    ("softmax_ce.grad_z", "p_i - y_i + max(0, z_i - 100)"),
    ("softmax_ce.grad_z", "p_i - y_i + ismax(z_i, 60)"),
    ("softmax_ce.grad_z", "p_i - y_i + exp(z_i - 60)"),
    ("kl.grad_q", "-p_i/max(q_i, 0.05)"),
    ("attention.grad_V", "A^T G + (A^T G)/999999999999"),
    ("softmax_ce.grad_z", "0"),
]
HOSTILE = [
    "__import__('os').system('true')",
    "9^9^9^9",
    "(" * 5000 + "x" + ")" * 5000,
    "x" * 1_000_000,
    "p_i.__class__",
    "ｐ_i - y_i",
    "log(0)",
    "p_i / (y_i - y_i)",
    "exec('1')",
    r"\input{/etc/passwd}",
]


def workload(count: int) -> list[tuple[str, str]]:
    """``count`` (problem, answer) pairs: per round, each problem's right and wrong answer, and hostile text.

    >>> w = workload(200)  # the second round repeats the wrong answers
    >>> len(w), len(set(w)) == len(w), any(pair in w for pair in NEAR_MISSES)
    (200, False, True)
    """
    pairs = []
    for round_number in itertools.count(1):
        for problem_id, (right, wrong) in ANSWERS.items():
            if problem_id in _EXERCISES:
                varied = right
            elif round_number % 2 and problem_id in REWRITTEN:
                varied = REWRITTEN[problem_id]
            else:
                varied = f"({round_number}/{round_number}) ({right})"
            pairs.append((problem_id, varied))
            pairs.append((problem_id, wrong))
        pairs.append(NEAR_MISSES[round_number % len(NEAR_MISSES)])
        pairs += [
            ("softmax_ce.grad_z", text)
            for text in HOSTILE[: 1 + round_number % len(HOSTILE)]
        ]
        if len(pairs) >= count:
            return pairs[:count]
    raise AssertionError("unreachable")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"default {DEFAULT_WORKERS} (one per core)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    missing = sorted(set(PROBLEMS) - set(ANSWERS))
    if missing:
        print(f"note: no benchmark answers for {', '.join(missing)}")
    pairs = workload(args.answers)
    latencies: dict[str, list[float]] = {}
    methods: dict[str, int] = {}  # how the non-invalid verdicts were reached
    start = time.perf_counter()
    with BoundedPool(workers=args.workers) as pool:
        for _, result, seconds in pool.grade(
            (n, p, a) for n, (p, a) in enumerate(pairs)
        ):
            latencies.setdefault(result.verdict, []).append(seconds)
            if result.verdict != "invalid":
                methods[result.method] = methods.get(result.method, 0) + 1
    total = time.perf_counter() - start
    decided = sum(methods.values())
    every = [t for ts in latencies.values() for t in ts]
    result = {
        "answers": len(pairs),
        "seconds": total,
        "answers_per_second": len(pairs) / total,
        "p50_ms": 1e3 * statistics.median(every),
        "p95_ms": 1e3 * _percentile(every, 0.95),
        "max_ms": 1e3 * max(every),
        "by_verdict": {
            v: {
                "count": len(ts),
                "p50_ms": 1e3 * statistics.median(ts),
                "p95_ms": 1e3 * _percentile(ts, 0.95),
            }
            for v, ts in sorted(latencies.items())
        },
        "methods": methods,
        # proofs: the formula problems' zero test and witnesses (symbolic), the numeric tables (exact)
        "proved_share": (methods.get("symbolic", 0) + methods.get("exact", 0)) / decided if decided else 0.0,
        "workers": args.workers,
        "machine": f"{platform.machine()}, python {platform.python_version()}",
    }
    print(
        f"{len(pairs)} answers, {args.workers} workers, in {total:.1f} s: {result['answers_per_second']:.0f} answers/s, p50 {result['p50_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms, max {result['max_ms']:.0f} ms (first answers of each problem build its key)"
    )
    for verdict, row in result["by_verdict"].items():
        print(
            f"  {verdict:<9} {row['count']:5d}: p50 {row['p50_ms']:7.1f} ms, p95 {row['p95_ms']:7.1f} ms"
        )
    print(
        f"  decided by proof: {100 * result['proved_share']:.1f}% of {decided} correct/incorrect verdicts (method "
        f"symbolic, or exact for the numeric tables; the rest sampled); by method: {dict(sorted(methods.items()))}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
