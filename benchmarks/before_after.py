#!/usr/bin/env python3
"""Two ``tap_cpu.py`` results side by side: CPU per record and the profile, before and after.

    python benchmarks/before_after.py results/tap-cpu-before.json results/tap-cpu-after.json

Prints, per variant and size, the tap's and the floor's CPU per record (start-up excluded) in
both files, the change, and issue #13's target; then each profile category's µs per record in
both. Reads only the two JSON files (any Python 3.10+). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def runs(result: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(client, variant, rows) -> run, keyset runs only."""
    return {
        (r["client"], r["variant"], r["rows_in_portal"]): r
        for size in result["sizes"]
        for r in size["runs"]
        if r["pagination"] == "keyset"
    }


def profiles(result: dict[str, Any]) -> dict[tuple[str, int], dict[str, float]]:
    """(variant, rows) -> category -> µs per record."""
    return {
        (p["variant"], p["rows_in_portal"]): {t["category"]: t["us_per_record"] for t in p["table"]}
        for size in result["sizes"]
        for p in size.get("profiles", [])
        if p.get("table")
    }


def show(head: list[str], body: list[list[str]]) -> None:
    """A table, the first column left-aligned."""
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    for cells in [head, ["-" * w for w in widths], *body]:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )


def main() -> int:
    """Load both files and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    try:
        old, new = (json.loads(p.read_text()) for p in (args.before, args.after))
    except (OSError, ValueError) as exc:
        sys.exit(f"cannot read the results: {exc}")
    stream = new.get("stream", "activities")
    targets = {k: v.get("target_us") for k, v in new.get("verdicts", {}).items()}
    print(
        f"{stream}: before {old['machine']['repo_commit']} ({old['started_at']}), "
        f"after {new['machine']['repo_commit']} ({new['started_at']})\n"
    )
    before, after = runs(old), runs(new)
    body = []
    for key in sorted(set(before) & set(after), key=lambda k: (k[1], k[2], k[0])):
        client, variant, rows = key
        a, b = before[key]["marginal_cpu_us_per_row"], after[key]["marginal_cpu_us_per_row"]
        if a is None or b is None:
            continue
        target = targets.get(variant) if client == "tap" else None
        body.append([
            f"{client}, {variant}", f"{rows:,}", f"{a:.1f}", f"{b:.1f}", f"{(b - a) / a:+.0%}",
            "-" if target is None else f"<= {target:.0f}: {'met' if b <= target else 'NOT met'}",
        ])  # fmt: skip
    if body:
        print("CPU µs per record, start-up excluded (user+sys of the process)")
        show(["run", "rows", "before", "after", "change", "target"], body)
    old_p, new_p = profiles(old), profiles(new)
    for key in sorted(set(old_p) & set(new_p)):
        print(f"\nprofile, {key[0]}, {key[1]:,} rows: µs per record by category")
        body = [
            [name, f"{old_p[key].get(name, 0):.1f}", f"{new_p[key].get(name, 0):.1f}"]
            for name in dict.fromkeys([*old_p[key], *new_p[key]])
        ]
        show(["category", "before", "after"], body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
