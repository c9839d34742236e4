"""Accuracy per field of the normaliser over the labelled cases in tests/normalise/cases.jsonl, and masking recall.

Masking: recall of the labelled names, phones and e-mails (masked = no longer readable in the text), and the false
masking rate (labelled employer, unit, place and job names and numbers that did not survive as written).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from munijobs.normalise.privacy import MASKS
from tests.normalise.labelled import Case, actual_fields, load_cases

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


def survives(kind: str, item: str, text: str) -> bool:
    """True when a labelled name, phone or e-mail (or a kept string) is still readable in the masked text."""
    if kind != "kept":
        for mask in MASKS:
            text = text.replace(mask, " ")
    if kind == "phones":
        return re.sub(r"\D", "", item)[-8:] in re.sub(r"\D", "", text)
    if kind == "emails":
        return re.split(r"@|\s|\(", item)[0].lower() in text.lower()
    return re.search(rf"(?<!\w){re.escape(item)}(?!\w)", text) is not None


def masking(cases: list[Case]) -> None:
    """Print masking recall for names, phones and e-mails, and the false masking rate, over the labelled cases."""
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses: list[str] = []
    for case in cases:
        if not case.labels:
            continue
        masked = actual_fields(case)["text"]
        for kind, items in case.labels.items():
            for item in items:
                kinds = [kind, f"{kind} (late set)"] if case.note.startswith(LATE_SET) else [kind]
                total.update(kinds)
                ok = survives(kind, item, masked) == (kind == "kept")
                if ok:
                    found.update(kinds)
                else:
                    misses.append(f"  line {case.line} {kind}: {item!r} -> {masked!r}")
    print(f"\n{'masking':<32} {'right':>6} {'total':>6} {'rate':>9}")
    for late in ("", " (late set)"):
        for kind, label in (("names", "recall names"), ("phones", "recall phones"), ("emails", "recall e-mails")):
            key = kind + late
            print(f"{label + late:<32} {found[key]:>6} {total[key]:>6} {found[key] / max(1, total[key]):>9.1%}")
        key = "kept" + late
        wrong = total[key] - found[key]
        print(f"{'false masking' + late:<32} {wrong:>6} {total[key]:>6} {wrong / max(1, total[key]):>9.1%}")
    if misses:
        print("masking misses:", *misses, sep="\n")


if __name__ == "__main__":
    main()
    masking(load_cases())
