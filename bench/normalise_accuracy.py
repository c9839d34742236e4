"""Accuracy per field of the normaliser over the labelled cases in tests/normalise/cases.jsonl."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.normalise.labelled import actual_fields, load_cases

LATE_SET = "holdout:"
"""Note prefix of cases written after a rule was tuned; they are also counted apart (the issue's closing notes give
their first-run figures, before any fix they prompted)."""


def main() -> None:
    """Print, for each rule and field, how many labelled cases the normaliser gets right."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses: list[str] = []
    cases = load_cases()
    for case in cases:
        actual = actual_fields(case)
        for key, expected in case.expected.items():
            field = f"{case.rule}.{key}"
            fields = [field, f"{field} (late set)"] if case.note.startswith(LATE_SET) else [field]
            total.update(fields)
            if actual[key] == expected:
                right.update(fields)
            else:
                why = f" (known: {case.known_miss})" if case.known_miss else ""
                misses.append(f"  line {case.line} {field}: expected {expected!r}, got {actual[key]!r}{why}")
    print(f"{'field':<32} {'right':>6} {'total':>6} {'accuracy':>9}")
    for field in sorted(total):
        print(f"{field:<32} {right[field]:>6} {total[field]:>6} {right[field] / total[field]:>9.1%}")
    overall_right = sum(count for field, count in right.items() if "(late set)" not in field)
    overall_total = sum(count for field, count in total.items() if "(late set)" not in field)
    print(f"{'all fields':<32} {overall_right:>6} {overall_total:>6} {overall_right / overall_total:>9.1%}")
    print(f"{len(cases)} labelled cases")
    if misses:
        print("misses:", *misses, sep="\n")


if __name__ == "__main__":
    main()
