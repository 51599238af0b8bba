"""How long ``gradproof derive`` takes per catalog entry, and how the time splits.

Prints one row per entry: wall seconds, the number of claims, and the slowest claim with its
share. Numbers are for reading and comparing runs on one machine, never asserted in tests.

    python benchmarks/derive_catalog.py [NAME ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derive.catalog import NAMES, topic
from derive.spec import EnvCache, prove_claim


def measure(name: str) -> dict:
    t = topic(name)
    envs = EnvCache(t.build)
    per_claim = {}
    start = time.perf_counter()
    for claim in t.claims:
        begin = time.perf_counter()
        prove_claim(t, claim, envs)
        per_claim[claim.key] = time.perf_counter() - begin
    total = time.perf_counter() - start
    slowest = max(per_claim, key=per_claim.get)
    return {
        "name": name,
        "seconds": total,
        "claims": len(per_claim),
        "slowest": slowest,
        "slowest_seconds": per_claim[slowest],
        "per_claim": per_claim,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(NAMES))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows = []
    print(f"{'entry':<22} {'seconds':>8} {'claims':>6}  slowest claim")
    for name in args.names:
        row = measure(name)
        rows.append(row)
        share = row["slowest_seconds"] / row["seconds"] if row["seconds"] else 0
        print(
            f"{name:<22} {row['seconds']:8.2f} {row['claims']:6d}  {row['slowest']} ({share:.0%})"
        )
    total = sum(r["seconds"] for r in rows)
    print(f"{'total':<22} {total:8.2f}")
    print(
        f"python {platform.python_version()}, {platform.machine()}, {platform.processor() or 'cpu'}"
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "total": total}, indent=2))


if __name__ == "__main__":
    main()
