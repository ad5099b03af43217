"""Foreign notes and scenes named when every model speaks on the same share of a new photographer's notes.

    .venv/bin/python benchmarks/equal_coverage.py                      # every lofo table in benchmarks/results
    .venv/bin/python benchmarks/equal_coverage.py --protocol holdout --at 0.8 0.85 0.9
    .venv/bin/python benchmarks/equal_coverage.py --only C200 AV3S1     # tables whose name starts so

The card's threshold is placed by a handful of validation errors, and the number of Swedish notes at "the first
threshold that names none" is set by the single most confident one, so both move by several notes from seed to
seed. This reads the threshold tables ``benchmarks/thresholds.py`` wrote (``thresholds-NAME.json``) and, for
each coverage C, takes the highest threshold at which the model still speaks on at least C of the test notes;
it prints the Swedish notes and scenes announced there and the precision on the notes. Two recipes are then
compared at the same benefit to the user, and a lever that only moves the card along the same trade shows as
no change. Reads files only (no model is run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def at_coverage(rows: list[dict], coverage: float) -> dict | None:
    """The row of the highest threshold that still speaks on >= ``coverage`` of the test notes (None: never)."""
    reach = [r for r in rows if r["test_coverage"] >= coverage]
    return max(reach, key=lambda r: r["threshold"]) if reach else None


def table(paths: list[Path], levels: list[float]) -> list[str]:
    head = "| table | top-1 | best coverage at >= 99.5 % | " + " | ".join(
        f"at {c:.0%}: Swedish / scenes, precision (threshold)" for c in levels) + " |"
    lines = [head, "|" + "---|" * (3 + len(levels))]
    for path in paths:
        doc = json.loads(path.read_text())
        cells = []
        for c in levels:
            r = at_coverage(doc["rows"], c)
            cells.append("never" if r is None else f"{r['sek-notes_announced']} / {r['scenes_announced']}, "
                         f"{r['test_precision']:.2%} ({r['threshold']:.2f})")
        name = path.stem.removeprefix("thresholds-")
        lines.append(f"| {name} | {doc['top1']:.1%} | {doc['best_coverage_at_99_5']:.1%} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="lofo", help="lofo | holdout: which tables (by name) to read")
    ap.add_argument("--at", type=float, nargs="+", default=[0.6, 0.7, 0.8], help="coverages to compare at")
    ap.add_argument("--only", nargs="+", default=None, help="table names starting with one of these")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if any(not 0 < c <= 1 for c in args.at):
        print("error: --at takes coverages between 0 and 1", file=sys.stderr)
        return 2
    # a -valreal table is the same model's, with only the validation columns changed: its test rows are a repeat
    paths = sorted(p for p in args.results.glob("thresholds-*.json") if args.protocol in p.stem and not p.stem.endswith("-valreal"))
    if args.only:
        paths = [p for p in paths if p.stem.removeprefix("thresholds-").startswith(tuple(args.only))]
    if not paths:
        print(f"error: no thresholds-*{args.protocol}*.json tables in {args.results}", file=sys.stderr)
        return 2
    print("\n".join(table(paths, args.at)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
