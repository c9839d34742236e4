"""The verdict on one pair of postings: the same position, a re-advertisement of it, or different positions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from rapidfuzz import fuzz

from munijobs.dedup.features import NUM_PERM, Features

WINDOW = timedelta(days=120)
"""Postings published further apart are never the same ad (nor a re-advertisement of it)."""
DEADLINE_TOLERANCE = timedelta(days=14)
TEXT_SAME = 0.41
"""Stripped-text similarity (estimated Jaccard of word 3-shingles) from which two postings are the same job, given a
similar title and no conflicting field; chosen on the tuning half of the labelled pairs (docs/dedup.md)."""
TEXT_SAME_ANY_TITLE = 0.80
"""Stripped-text similarity from which the titles may differ (a heading rewritten for another channel)."""
MIN_TEXT = 150
"""Characters of text each posting needs before its text can make it a near-duplicate (a line proves nothing)."""
TITLE_SAME = 50.0
"""rapidfuzz token_set_ratio (0-100) of the cleaned titles needed with TEXT_SAME."""

_TITLE_NOISE = re.compile(r"\d+(?:[,.]\d+)?\s*%|\b(?:ledig|stilling(?:er)?|fast|vikariat|inntil|ca|og|i|til|ved|på"
                          r"|prosent|heltid|deltid)\b|[^\wæøå ]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    same: bool
    """The same position: the two belong to one ad."""
    readvertised: bool = False
    """The same text, but one was published after the other closed: a new ad, linked to the earlier one."""
    strong: bool = False
    """Decided by a shared id (a strong link), not by similarity."""
    score: float = 0.0
    reason: str = ""


def clean_title(title: str) -> str:
    return " ".join(_TITLE_NOISE.sub(" ", title.lower()).split())


def title_similarity(a: Features, b: Features) -> float:
    return fuzz.token_set_ratio(clean_title(a.title), clean_title(b.title))


def conflict(a: Features, b: Features, dates: bool = True) -> str | None:
    """A field that makes the two different positions whatever their texts, or None.

    dates=False leaves out publication and deadline, which differ between an ad and its re-advertisement.
    """
    if dates and a.published_at and b.published_at and abs(a.published_at - b.published_at) > WINDOW:
        return "published more than 120 days apart"
    if a.municipality_code and b.municipality_code and a.municipality_code != b.municipality_code:
        return f"municipality {a.municipality_code} vs {b.municipality_code}"
    (a_min, a_max), (b_min, b_max) = a.percent, b.percent
    if a_max is not None and b_max is not None and (a_max < (b_min or b_max) or b_max < (a_min or a_max)):
        return f"job percent {a_max:g} vs {b_max:g}"
    if a.engagement_type and b.engagement_type and a.engagement_type != b.engagement_type:
        return f"engagement {a.engagement_type} vs {b.engagement_type}"
    if dates and a.deadline_date and b.deadline_date and abs(a.deadline_date - b.deadline_date) > DEADLINE_TOLERANCE:
        return f"deadline {a.deadline_date} vs {b.deadline_date}"
    if a.shifts and b.shifts and not a.shifts & b.shifts:
        return f"shift {','.join(sorted(a.shifts))} vs {','.join(sorted(b.shifts))}"
    if a.units and b.units and not _one_unit(a, b):
        return f"unit {min(a.units)} vs {min(b.units)}"
    return None


def _one_unit(a: Features, b: Features) -> bool:
    """Some unit name of one is a unit name of the other, or all its words are mentioned by the other."""
    if any(same_unit(x, y) for x in a.units for y in b.units):
        return True
    return any(_mentioned(unit, b.mentions) for unit in a.units) or any(_mentioned(u, a.mentions) for u in b.units)


def _mentioned(unit: str, mentions: frozenset[str]) -> bool:
    return all(any(_same_word(word, m) for m in mentions) for word in unit.split())


def _same_word(x: str, y: str) -> bool:
    """One word, give or take an inflection ("sjukeheim", "sjukeheimen")."""
    if x == y:
        return True
    short, long = sorted((x, y), key=len)
    return (long.startswith(short) and len(short) >= 0.75 * len(long)) or fuzz.ratio(x, y) >= 85


def same_unit(x: str, y: str) -> bool:
    """Two unit names (space-joined words) name one unit unless each has a word the other lacks."""
    left, right = x.split(), y.split()
    only_left = [w for w in left if not any(_same_word(w, v) for v in right)]
    only_right = [w for w in right if not any(_same_word(w, v) for v in left)]
    return not (only_left and only_right)


def readvertisement(a: Features, b: Features) -> bool:
    """One was published after the other had closed."""
    def after(first: Features, second: Features) -> bool:
        return bool(first.closed_at and first.status != "active" and second.published_at
                    and second.published_at > first.closed_at)
    return after(a, b) or after(b, a)


def may_match(equal: np.ndarray, shorter: np.ndarray) -> np.ndarray:
    """Which candidate pairs without a shared link `compare` could find the same ad or a re-advertisement, from the
    number of equal signature values and the shorter text's length (vectorised; the rebuild drops the rest before
    reading any posting's features): the checks compare makes first, "too little text" and text below TEXT_SAME."""
    return (shorter >= MIN_TEXT) & (equal / NUM_PERM >= TEXT_SAME)


def compare(a: Features, b: Features) -> Verdict:
    """The verdict on a candidate pair: strong link first, then fields that conflict, then text and title."""
    shared = sorted(a.links & b.links)
    if shared:
        if readvertisement(a, b):
            return Verdict(same=False, readvertised=True, strong=True, score=1.0, reason=f"re-advertised ({shared[0]})")
        return Verdict(same=True, strong=True, score=1.0, reason=f"strong link {shared[0]}")
    if min(a.text_length, b.text_length) < MIN_TEXT:
        return Verdict(same=False, reason="too little text to compare")
    text = a.similarity(b)
    if text < TEXT_SAME:
        return Verdict(same=False, score=round(text, 3), reason=f"text {text:.2f}")
    readvertised = readvertisement(a, b)
    why_not = conflict(a, b, dates=not readvertised)
    if why_not:
        return Verdict(same=False, reason=why_not)
    title = title_similarity(a, b)
    similar = text >= TEXT_SAME_ANY_TITLE or (text >= TEXT_SAME and title >= TITLE_SAME)
    score = round(text, 3)
    reason = f"text {text:.2f}, title {title:.0f}"
    if not similar:
        return Verdict(same=False, score=score, reason=reason)
    if readvertised:
        return Verdict(same=False, readvertised=True, score=score, reason=f"re-advertised: {reason}")
    return Verdict(same=True, score=score, reason=f"near-duplicate: {reason}")
