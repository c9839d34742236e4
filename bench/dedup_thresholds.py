"""Choose the near-duplicate thresholds from the labelled pairs: the tuning half (odd ids) chooses, the held-out half
(even ids) checks. Pure: no database (the store-path figures come from tests/dedup/test_labelled.py).

Only pairs that no field keeps apart reach the text threshold, so it is placed midway between the least similar
duplicate of the tuning half and the most similar non-duplicate that passes the field checks, the latter both among
the labelled pairs and among postings of different tuning pairs in the same block (different positions by
construction: the realistic "unrelated ads of one municipality").

    .venv/bin/python bench/dedup_thresholds.py [PAIRS.jsonl]
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from munijobs.dedup import match
from munijobs.dedup.features import derive, features_of
from munijobs.dedup.match import conflict, readvertisement, title_similarity
from tests.dedup.pairs import LABELLED, Score, is_tuning, load_pairs, to_item

TEXT_GRID = [round(0.05 * n, 2) for n in range(2, 20)]
TITLE_GRID = [0.0, 50.0, 70.0, 90.0]


def features(posting: dict, posting_id: int):
    item = to_item(posting)
    row = SimpleNamespace(**{name: getattr(item, name) for name in item.__dataclass_fields__}, id=posting_id,
                          first_seen_at=None)
    row.status = str(item.status)
    return features_of(row, derive(row, item.work_locations[0].postal_code if item.work_locations else None))


def score(pairs: list[tuple[dict, object, object]], text: float, title: float, any_title: float) -> Score:
    match.TEXT_SAME, match.TITLE_SAME, match.TEXT_SAME_ANY_TITLE = text, title, any_title
    result = Score()
    for pair, a, b in pairs:
        result.add(pair["same"], match.compare(a, b).same)
    return result


def reaches_text(a, b) -> bool:
    return not (a.links & b.links) and not conflict(a, b) and not readvertisement(a, b)


def gap(tuning: list) -> None:
    """The least similar duplicate and the most similar non-duplicates that reach the text check; the midpoint."""
    duplicates = sorted((a.similarity(b), title_similarity(a, b), pair["id"]) for pair, a, b in tuning
                        if pair["same"] and not a.links & b.links)
    labelled = [(a.similarity(b), title_similarity(a, b), pair["id"]) for pair, a, b in tuning
                if not pair["same"] and reaches_text(a, b)]
    postings = [(n, f) for n, (_, a, b) in enumerate(tuning) for f in (a, b)]
    cross = [(a.similarity(b), title_similarity(a, b), "cross-pair") for i, (n, a) in enumerate(postings)
             for m, b in postings[i + 1:] if n != m and a.block == b.block and reaches_text(a, b)]
    negatives = sorted(labelled + cross)
    print(f"duplicates without a shared id: {len(duplicates)}; least similar: "
          + ", ".join(f"{t:.2f} (title {ti:.0f}, {pid})" for t, ti, pid in duplicates[:3]))
    print(f"non-duplicates reaching the text check: {len(labelled)} labelled, {len(cross)} cross-pair; most similar: "
          + ", ".join(f"{t:.2f} (title {ti:.0f}, {pid})" for t, ti, pid in negatives[-3:]))
    if duplicates and negatives:
        print(f"midpoint: {(duplicates[0][0] + negatives[-1][0]) / 2:.3f}")


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else LABELLED
    pairs = [(pair, features(pair["a"], 1), features(pair["b"], 2)) for pair in load_pairs(path)]
    tuning = [p for p in pairs if is_tuning(p[0])]
    held_out = [p for p in pairs if not is_tuning(p[0])]
    chosen = (match.TEXT_SAME, match.TITLE_SAME, match.TEXT_SAME_ANY_TITLE)
    print(f"{path.name}: {len(tuning)} tuning pairs (odd ids), {len(held_out)} held out (even ids)")
    gap(tuning)
    print("tuning errors (false positives + false negatives) by text threshold (rows) and title threshold (columns),"
          f" text alone from {chosen[2]:.2f}:")
    print("  text  " + " ".join(f"{title:>5.0f}" for title in TITLE_GRID))
    for text in TEXT_GRID:
        cells = [score(tuning, text, title, max(chosen[2], text)) for title in TITLE_GRID]
        print(f"  {text:.2f}  " + " ".join(f"{s.false_positive:>2}+{s.false_negative:<2}" for s in cells))
    print(f"chosen (match.py): text {chosen[0]:.2f}, title {chosen[1]:.0f}, any title {chosen[2]:.2f}")
    print(f"  tuning:   {score(tuning, *chosen)}")
    print(f"  held out: {score(held_out, *chosen)}")
    print(f"  all:      {score(pairs, *chosen)}")


if __name__ == "__main__":
    main()
