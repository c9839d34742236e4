"""Accuracy per field of the normaliser over the labelled cases in tests/normalise/cases.jsonl."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.normalise.labelled import actual_fields, load_cases


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
            total[field] += 1
            if actual[key] == expected:
                right[field] += 1
            else:
                misses.append(f"  line {case.line} {field}: expected {expected!r}, got {actual[key]!r}")
    print(f"{'field':<32} {'right':>6} {'total':>6} {'accuracy':>9}")
    for field in sorted(total):
        print(f"{field:<32} {right[field]:>6} {total[field]:>6} {right[field] / total[field]:>9.1%}")
    overall_right, overall_total = sum(right.values()), sum(total.values())
    print(f"{'all fields':<32} {overall_right:>6} {overall_total:>6} {overall_right / overall_total:>9.1%}")
    print(f"{len(cases)} labelled cases")
    if misses:
        print("misses:", *misses, sep="\n")


if __name__ == "__main__":
    main()
