"""The labelled pairs (tests/dedup/labelled_pairs.jsonl, format: docs/dedup.md) as JobPosting items, and scoring."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from munijobs.constants import PostingStatus
from munijobs.items import JobPosting, WorkLocation
from munijobs.normalise import normalise_posting

HERE = Path(__file__).parent
LABELLED = Path(os.environ.get("MUNIJOBS_DEDUP_PAIRS") or HERE / "labelled_pairs.jsonl")
"""The pairs file; MUNIJOBS_DEDUP_PAIRS runs the same test on another set (e.g. independent held-out pairs)."""
LINKED_CASES = frozenset({"linked_nav_jobbnorge", "linked_other_ats"})
RAW_FIELDS = ("source_ad_id", "title", "job_title", "employer_name", "employer_orgnr", "employer_parent_orgnr",
              "deadline_raw", "engagement_type_raw", "extent_raw", "job_percent_raw", "positions_raw", "url",
              "application_url", "origin_url", "description_html")


def load_pairs(path: Path = LABELLED) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def to_item(posting: dict) -> JobPosting:
    """A labelled posting as the spider would yield it, run through the real normaliser."""
    item = JobPosting(source=posting["source"], source_ad_id=str(posting["source_ad_id"]))
    for name in RAW_FIELDS[1:]:
        setattr(item, name, posting.get(name))
    item.status = PostingStatus(posting.get("status") or "active")
    item.closed_at = _when(posting.get("closed_at"))
    item.published_at = _when(posting.get("published_at"))
    item.expires_at = _when(posting.get("expires_at"))
    item.work_locations = [WorkLocation(**{k: v for k, v in loc.items() if k in WorkLocation.__dataclass_fields__})
                           for loc in posting.get("work_locations") or []]
    return normalise_posting(item)


@dataclass
class Score:
    pairs: int = 0
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    def add(self, same: bool, predicted: bool) -> None:
        self.pairs += 1
        self.true_positive += same and predicted
        self.false_positive += predicted and not same
        self.false_negative += same and not predicted

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positive + self.false_negative
        return self.true_positive / real if real else 1.0

    def __str__(self) -> str:
        return (f"{self.pairs} pairs: precision {self.precision:.3f}, recall {self.recall:.3f}"
                f" (tp {self.true_positive}, fp {self.false_positive}, fn {self.false_negative})")


def is_tuning(pair: dict) -> bool:
    """Odd-numbered pairs tune the thresholds; even-numbered ones are held out."""
    digits = "".join(ch for ch in pair["id"] if ch.isdigit())
    return int(digits or 0) % 2 == 1
