"""Every benchmark in one run: a table of figures, each with its baseline measured in the same run.

0. Proofs: how many VJP rules, model matrix forms and catalog steps are proved at every size.
1. Derivation: entrywise ``sympy.diff`` of attention's dL/dQ at n = d_k = 2, 4, 6, 8 against the
   graph route at symbolic sizes (attention and the encoder block); the growth exponent of the
   first and the flat cost of the second; the zero test's expression route against its
   polynomial route on the same claims; the whole catalog's proofs per entry, and
   ``gradproof derive --all`` wall time with one process per core and with one process; the
   catalog's steps proved at every size, before and after the graph route's lift (graphs/lift.py).
2. Verification: the compiled attention gradient against autograd (n = d_k = 32, 128, 512, batch
   64); our whole check of one problem against ``torch.autograd.gradcheck`` (fast and default
   mode); ``gradproof verify`` wall time at the ci setting (50 examples) and a thorough one (200).
3. Scale: the largest attention and encoder block verified within 10 s on this CPU (and on CUDA
   when present, with CPU agreement).
4. Expressions: a 12-layer Transformer encoder written as one forward expression: its matrix
   form (read and reversed) against the catalog's one-layer block, and its compiled gradient
   against autograd (benchmarks/expression_encoder.py).
5. Grading: 1,000 mixed answers, answers per second and p50/p95 latency.
6. Start-up: ``gradproof --help`` and ``gradproof derive softmax_ce`` wall time, and whether the
   derive path imports torch.

``--quick`` keeps each part small (a couple of minutes in all); the full run takes about 10
minutes on a 2-core machine. The JSON has every figure, the machine and the versions. Numbers
are printed, never asserted.

    python benchmarks/run.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]


def _wall(command: list[str], repeats: int = 1) -> float:
    """Median wall seconds of a command (a fresh process each time)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def derivation(quick: bool) -> dict:
    import derive_catalog
    import graph_route
    import sympy
    import zero_test

    from derive.catalog import NAMES

    sizes = [2, 4] if quick else [2, 4, 6, 8]
    entrywise = {n: graph_route.entrywise_attention_dQ(n) for n in sizes}
    route = {name: graph_route.graph_route(name) for name in ("attention", "encoder")}
    (n1, t1), (n2, t2) = list(entrywise.items())[-2], list(entrywise.items())[-1]
    exponent = float(sympy.log(t2 / t1) / sympy.log(sympy.Rational(n2, n1)))
    names = ["perceptron", "softmax_ce", "information"] if quick else list(NAMES)
    catalog = {
        row["name"]: row["seconds"] for row in map(derive_catalog.measure, names)
    }
    routes = [zero_test.measure(*case) for case in (zero_test.QUICK if quick else zero_test.CASES)]
    command = [sys.executable, "-m", "gradproof", "derive", *(names if quick else ["--all"])]
    return {
        "zero_test_routes": routes,
        "derive_all_wall_s": _wall(command),
        "derive_all_one_process_wall_s": _wall([*command, "--jobs", "1"]),
        "derive_all_jobs": os.cpu_count(),
        "entrywise_dQ_s": entrywise,
        "entrywise_growth_exponent": exponent,
        "graph_route_s": route,
        "graph_vs_entrywise_at_largest_n": entrywise[sizes[-1]] / route["attention"],
        "derive_s": catalog,
        "derive_total_s": sum(catalog.values()),
        "derive_entries": len(catalog),
    }


def proofs(quick: bool) -> dict:
    """What is proved at every size (counts, not times): the rule table, the models, the catalog's steps."""
    from graphs.lift import every_size_step_counts
    from graphs.route import every_size_counts

    del quick  # the whole catalog either way: the counts are the figure
    return {"rules": every_size_counts(), "steps": every_size_step_counts()}


def verification(quick: bool) -> dict:
    import compiled_vs_autograd
    import verify_vs_gradcheck

    sizes = [32, 128] if quick else [32, 128, 512]
    ratios = compiled_vs_autograd.measure(sizes, batch=64, repeats=3 if quick else 5)
    check = verify_vs_gradcheck.measure(n=128, batch=64, repeats=3, skip_default=quick)
    examples = {"ci": 10 if quick else 50, "thorough": None if quick else 200}
    verify = {
        name: _wall([sys.executable, "-m", "gradproof", "verify", "--examples", str(n)])
        for name, n in examples.items()
        if n
    }
    return {
        "compiled_vs_autograd": ratios,
        "check_vs_gradcheck": check,
        "verify_wall_s": verify,
        "verify_examples": examples,
    }


def scaling(quick: bool) -> dict:
    import scale
    import torch

    out = {}
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        rows = {
            name: scale.scale(
                name,
                device,
                128,
                10.0,
                1024 if quick else (8192 if device == "cpu" else 16384),
            )
            for name in scale.SIZES
        }
        out[device] = {
            name: {"largest_n_within_10s": scale.largest_within(r, 10.0), "rows": r}
            for name, r in rows.items()
        }
    return out


def expressions(quick: bool) -> dict:
    import expression_encoder

    small = ["--n", "8", "--d", "16", "--batch", "4"] if quick else []
    return expression_encoder.main(["--layers", "12", *small])


def grading(quick: bool) -> dict:
    import grading as grading_benchmark

    return grading_benchmark.main(["--answers", "200" if quick else "1000"])


def startup() -> dict:
    probe = "import sys; from gradproof.cli import main; main(['derive', 'softmax_ce']); print('torch' in sys.modules)"
    imported = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "help_s": _wall([sys.executable, "-m", "gradproof", "--help"], 3),
        "derive_softmax_ce_s": _wall(
            [sys.executable, "-m", "gradproof", "derive", "softmax_ce"]
        ),
        "derive_imports_torch": imported.stdout.strip().splitlines()[-1] == "True",
    }


def _table(figures: dict) -> list[tuple[str, str, str]]:
    """(figure, value, against) rows for the printed summary."""
    d, v, s, g, u, e = (
        figures.get(k, {})
        for k in ("derivation", "verification", "scale", "grading", "startup", "expressions")
    )
    rows = []
    if d:
        largest = max(d["entrywise_dQ_s"])
        rows += [
            (
                f"entrywise sympy.diff dL/dQ, n = {largest}",
                f"{d['entrywise_dQ_s'][largest]:.2f} s",
                f"grows like n^{d['entrywise_growth_exponent']:.1f}",
            ),
            (
                "graph route, attention (any n)",
                f"{d['graph_route_s']['attention'] * 1e3:.1f} ms",
                f"{d['graph_vs_entrywise_at_largest_n']:,.0f}x faster than entrywise at n = {largest}",
            ),
            (
                "graph route, encoder block (any n)",
                f"{d['graph_route_s']['encoder'] * 1e3:.1f} ms",
                "target < 1 s",
            ),
        ]
        for route in d.get("zero_test_routes", []):
            rows.append(
                (
                    f"zero test, {route['case']}",
                    f"{route['polynomial_s'] * 1e3:.0f} ms",
                    f"expression route {route['expression_s']:.2f} s: {route['ratio']:.0f}x"
                    + ("" if route["both_prove_every_entry"] else " (NOT both proved)"),
                )
            )
        rows += [
            (
                f"proofs of {d['derive_entries']} entries, one process",
                f"{d['derive_total_s']:.1f} s",
                "sum over entries (benchmarks/derive_catalog.py)",
            ),
            (
                f"gradproof derive {'--all' if d['derive_entries'] > 3 else '(3 entries)'}, one process",
                f"{d['derive_all_one_process_wall_s']:.1f} s",
                "wall time, with the graph route and rendering",
            ),
            (
                f"gradproof derive {'--all' if d['derive_entries'] > 3 else '(3 entries)'}, {d['derive_all_jobs']} processes",
                f"{d['derive_all_wall_s']:.1f} s",
                "target < 15 s (whole catalog)",
            ),
        ]
    p = figures.get("proofs", {})
    if p:
        r = p["rules"]
        rows += [
            ("VJP rules proved at every size (index form)", f"{r['rules_every_size']} of {r['rules']}",
             "graphs/prove_index.py; each also entrywise at 3 to 7 shapes"),
            ("model matrix forms proved at every size", f"{r['models_every_size']} of {r['models']}",
             "by the chain rule over rules proved at every size"),
            (f"catalog steps proved at every size (of {p['steps']['steps']})", str(p["steps"]["after"]),
             f"{p['steps']['before']} by their own derivation; the rest lifted by the graph route "
             f"({p['steps']['lift_seconds']:.1f} s)"),
        ]
    if v:
        for n, row in v["compiled_vs_autograd"].items():
            rows.append(
                (
                    f"compiled formula vs autograd, n = d_k = {n}",
                    f"{row['ratio']:.2f}x",
                    "below 1: faster",
                )
            )
        c = v["check_vs_gradcheck"]
        rows.append(
            (
                "our check of one problem (n = 128)",
                f"{c['check_s'] * 1e3:.0f} ms",
                f"gradcheck fast {c['gradcheck_fast_vs_check']:.1f}x longer"
                + (
                    f", default {c['gradcheck_default_vs_check']:.0f}x"
                    if "gradcheck_default_s" in c
                    else ""
                ),
            )
        )
        for name, seconds in v["verify_wall_s"].items():
            rows.append(
                (
                    f"gradproof verify ({name}, {v['verify_examples'][name]} examples)",
                    f"{seconds:.1f} s",
                    "target < 60 s" if name == "ci" else "",
                )
            )
    for device, models in s.items():
        for name, row in models.items():
            rows.append(
                (
                    f"largest {name} verified in 10 s ({device})",
                    str(row["largest_n_within_10s"]),
                    f"d_k = 128, n tried up to {max(r['n'] for r in row['rows'])}",
                )
            )
    if e:
        m = e["matrix_form"]
        rows.append((f"matrix form of a {m['layers']}-layer encoder from --expr ({m['nodes']} nodes)",
                     f"{m['expression_s']:.2f} s", "target < 1 s"))
        for row in e["compiled"]:
            rows.append((f"its compiled gradient vs autograd ({row['device']})", f"{row['ratio']:.2f}x",
                         f"below 1: faster; largest difference {row['max_abs_difference']:.0e}"))
    if g:
        rows.append(
            (
                f"grading {g['answers']} answers ({g['workers']} workers)",
                f"{g['seconds']:.1f} s",
                f"{g['answers_per_second']:.0f}/s, p50 {g['p50_ms']:.0f} ms, p95 {g['p95_ms']:.0f} ms"
                + ("; target < 30 s" if g["answers"] == 1000 else ""),
            )
        )
    if u:
        rows += [
            ("gradproof --help", f"{u['help_s']:.2f} s", "target < 0.5 s"),
            (
                "gradproof derive softmax_ce",
                f"{u['derive_softmax_ce_s']:.1f} s",
                "imports torch" if u["derive_imports_torch"] else "torch not imported",
            ),
        ]
    return rows


def speed_table(figures: dict) -> str:
    """The figures as README's Speed table: a line naming the run, then the Markdown table.

    tests/cli/test_readme.py checks that README shows exactly this for benchmarks/results/latest.json.
    """
    rows = _table(figures)
    machine, versions = figures["machine"], figures["versions"]
    parts = figures.get("dates", {})
    dated = "; ".join(f"{part} {day}" for part, day in parts.items() if day != figures["date"])
    lines = [
        f"Run of {figures['date']}{' (' + dated + ')' if dated else ''}{' --quick' if figures.get('quick') else ''}: "
        f"{machine['processor']}, {machine['cpus']} CPUs{', ' + machine['cuda'] if machine['cuda'] else ', no GPU'}, "
        f"python {versions['python']}, torch {versions['torch']}, sympy {versions['sympy']}.",
        "",
        "| figure | value | against |",
        "|---|---|---|",
        *(f"| {figure} | {value} | {against} |" for figure, value, against in rows),
    ]
    return "\n".join(lines)


PARTS = {
    "proofs": proofs,
    "derivation": derivation,
    "verification": verification,
    "scale": scaling,
    "expressions": expressions,
    "grading": grading,
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings: a couple of minutes"
    )
    parser.add_argument(
        "--only", nargs="+", choices=[*PARTS, "startup"], help="run only these parts"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "results" / "latest.json",
        help="where the figures go (default benchmarks/results/latest.json)",
    )
    args = parser.parse_args(argv)
    import sympy
    import torch

    figures: dict = {
        "date": datetime.date.today().isoformat(),
        "quick": args.quick,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "sympy": sympy.__version__,
        },
    }
    for name in args.only or [*PARTS, "startup"]:
        print(f"\n== {name}", flush=True)
        start = time.perf_counter()
        figures[name] = startup() if name == "startup" else PARTS[name](args.quick)
        print(f"   ({time.perf_counter() - start:.0f} s)", flush=True)
    if args.only and args.json.is_file():
        # A partial run updates its parts and keeps the others, each with the date it was measured.
        kept = json.loads(args.json.read_text())
        dates = {part: kept.get("date") for part in [*PARTS, "startup"] if part in kept} | kept.get("dates", {})
        figures = {**kept, **figures, "dates": {**dates, **{part: figures["date"] for part in args.only}}}
    print("\n" + speed_table(figures))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            figures,
            indent=2,
            default=lambda o: (
                None if isinstance(o, float) and math.isnan(o) else str(o)
            ),
        )
    )
    print(f"\nwrote {args.json}")
    return figures


if __name__ == "__main__":
    main()
