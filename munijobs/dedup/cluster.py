"""Postings into ads: components of matching pairs, stable ad ids, and the postings that represent an ad.

Pairs are joined strongest first (strong links, then by text similarity). Two groups are never joined when any
posting of one conflicts with any of the other (`match.conflict`) or re-advertises it, so "A is like B and B is
like C" cannot glue a 100 % and a 50 % position together through a third posting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from munijobs.dedup.features import Features
from munijobs.dedup.match import Verdict, compare, conflict, readvertisement


@dataclass
class Clustering:
    components: list[list[int]]
    """Posting ids of each ad, sorted; every posting in exactly one component."""
    reasons: dict[int, str] = field(default_factory=dict)
    """Why a posting was joined to its component (the pair that joined it)."""
    readvertised_from: dict[int, int] = field(default_factory=dict)
    """Component index -> index of the earlier component it re-advertises."""


def verdicts_of(features: Mapping[int, Features], pairs) -> dict[tuple[int, int], Verdict]:
    """The verdicts that matter to clustering (the same ad, or a re-advertisement) on these candidate pairs."""
    verdicts = {}
    for a, b in pairs:
        verdict = compare(features[a], features[b])
        if verdict.same or verdict.readvertised:
            verdicts[(a, b)] = verdict
    return verdicts


def cluster(features: Mapping[int, Features], verdicts: Mapping[tuple[int, int], Verdict]) -> Clustering:
    """Group the postings (by id) into ads from the verdicts on their candidate pairs."""
    root = {pid: pid for pid in features}
    members = {pid: [pid] for pid in features}
    reasons: dict[int, str] = {}

    def find(pid: int) -> int:
        while root[pid] != pid:
            root[pid] = root[root[pid]]
            pid = root[pid]
        return pid

    same = sorted(((pair, v) for pair, v in verdicts.items() if v.same), key=lambda e: (not e[1].strong, -e[1].score,
                                                                                        e[0]))
    for (a, b), verdict in same:
        ra, rb = find(a), find(b)
        if ra == rb or (not verdict.strong and _kept_apart(features, members[ra], members[rb])):
            continue
        if len(members[ra]) < len(members[rb]):
            ra, rb = rb, ra
        for pid in members[rb]:
            reasons.setdefault(pid, f"{verdict.reason} ({_other(a, b, pid)})")
        reasons.setdefault(a if b in members[rb] else b, f"{verdict.reason} (posting {b if b in members[rb] else a})")
        root[rb] = ra
        members[ra].extend(members.pop(rb))
    components = sorted((sorted(m) for m in members.values()), key=lambda m: m[0])
    index = {pid: n for n, comp in enumerate(components) for pid in comp}
    readvertised: dict[int, tuple[object, int]] = {}
    for (a, b), verdict in verdicts.items():
        if not verdict.readvertised or index[a] == index[b]:
            continue
        earlier, later = (a, b) if _closed_before(features[a], features[b]) else (b, a)
        closed = features[earlier].closed_at
        best = readvertised.get(index[later])
        if best is None or closed > best[0]:
            readvertised[index[later]] = (closed, index[earlier])
    return Clustering(components, reasons, {later: earlier for later, (_, earlier) in readvertised.items()})


def _other(a: int, b: int, pid: int) -> str:
    return f"posting {b if pid == a else a}" if pid in (a, b) else f"via postings {a} and {b}"


def _closed_before(first: Features, second: Features) -> bool:
    return bool(first.closed_at and second.published_at and second.published_at > first.closed_at)


def _kept_apart(features: Mapping[int, Features], left: list[int], right: list[int]) -> bool:
    """Some posting of one group conflicts with, or re-advertises, some posting of the other."""
    for a in left:
        for b in right:
            fa, fb = features[a], features[b]
            if fa.links & fb.links:
                continue
            if conflict(fa, fb) or readvertisement(fa, fb):
                return True
    return False


def assign_ad_ids(components: list[list[int]], current: Mapping[int, int | None]) -> list[int | None]:
    """The ad id of each component: the id most of its postings hold (ties: the oldest), each id used once.

    Larger components choose first, so an ad keeps its id when a posting joins it or one splits off; None means
    the component needs a new ad.
    """
    order = sorted(range(len(components)), key=lambda n: (-len(components[n]), components[n][0]))
    taken: set[int] = set()
    result: list[int | None] = [None] * len(components)
    for n in order:
        counts = Counter(current[pid] for pid in components[n] if current.get(pid) is not None)
        for ad_id, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            if ad_id not in taken:
                taken.add(ad_id)
                result[n] = ad_id
                break
    return result


def choose_representatives(members: list[Features]) -> tuple[int, int]:
    """(primary, facts) posting ids of an ad, by the merge rule (docs/dedup.md).

    primary (title, text, links, language): an active posting before a closed one, then the longest text, then the
    oldest posting. facts (employer, place, occupation, engagement, percent, deadline, dates): the posting with the
    most structured fields filled, NAV first on a tie (its fields come from the employer's form, not from text),
    then active, then oldest.
    """
    primary = min(members, key=lambda f: (f.status != "active", -f.text_length, f.posting_id))
    facts = min(members, key=lambda f: (-f.structured, f.source != "nav", f.status != "active", f.posting_id))
    return primary.posting_id, facts.posting_id
