"""Postings of two sources (nav, jobbnorge) written through store_batch, with ads shared by setting ad ids directly,
so the coverage counts are tested without deduplication. The expected figures below are counted by hand.

Ads (letters) by municipality; times relative to T0 (2026-02-20 08:00 UTC); "now" is 2026-03-01:

5001 Trondheim  A nav T0 + jobbnorge T0+6h (and 0.7 s: seconds are truncated)   B nav T0+1d + jobbnorge T0+1d+2h
                C jobbnorge T0 + nav T0+10h   D nav only   E jobbnorge only
                F nav (expired at T0+3d) + jobbnorge T0+1d   G nav only, withdrawn at T0+1d, newest nav publication
4601 Bergen     H nav T0 + jobbnorge T0+3h    I nav T0 + jobbnorge T0+5h (an even count: median 4 h)
1804 Bodø       nav only, expired in January (a likely gap)
0301 Oslo       J nav T0 (primary) + jobbnorge T0+1h whose own posting says 3201 Bærum: counted in Oslo
1508 Ålesund    K nav, a posting without an ad id (an ad of its own)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, select, update

from munijobs.constants import PostingStatus
from munijobs.items import JobPosting
from storage.db import ensure_source, session_scope
from storage.models import Ad, Posting
from storage.postings import store_batch

T0 = datetime(2026, 2, 20, 8, 0, tzinfo=UTC)
TODAY = date(2026, 3, 1)
SINCE = T0 + timedelta(days=2)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
COUNTIES = {"5001": "50", "4601": "46", "1804": "18", "0301": "03", "3201": "32", "1508": "15"}

# (source, source ad id, municipality, first seen, published)
POSTINGS = [
    ("nav", "n1", "5001", T0, T0 - DAY), ("jobbnorge", "j1", "5001", T0 + 6 * HOUR + timedelta(seconds=0.7), T0),
    ("nav", "n2", "5001", T0 + DAY, None), ("jobbnorge", "j2", "5001", T0 + DAY + 2 * HOUR, T0 + DAY),
    ("jobbnorge", "j3", "5001", T0, T0), ("nav", "n3", "5001", T0 + 10 * HOUR, T0 + 10 * HOUR),
    ("nav", "n4", "5001", T0 + 2 * DAY, T0 + 2 * DAY),
    ("jobbnorge", "j5", "5001", T0 + 2 * DAY, T0 + 2 * DAY + 3 * HOUR),
    ("nav", "n6", "5001", T0, T0), ("jobbnorge", "j6", "5001", T0 + DAY, T0 + DAY),
    ("nav", "n7", "5001", T0, datetime(2026, 2, 27, 12, 0, tzinfo=UTC)),
    ("nav", "n8", "4601", T0, T0), ("jobbnorge", "j8", "4601", T0 + 3 * HOUR, T0),
    ("nav", "n9", "4601", T0, T0), ("jobbnorge", "j9", "4601", T0 + 5 * HOUR, T0),
    ("nav", "n10", "1804", datetime(2026, 1, 10, 9, 0, tzinfo=UTC), datetime(2026, 1, 10, 9, 0, tzinfo=UTC)),
    ("nav", "n11", "0301", T0, T0), ("jobbnorge", "j11", "3201", T0 + HOUR, T0 + HOUR),
    ("nav", "n12", "1508", T0, T0),
]
# (source, id, status, closed at)
CLOSINGS = [("nav", "n6", PostingStatus.EXPIRED, T0 + 3 * DAY), ("nav", "n7", PostingStatus.WITHDRAWN, T0 + DAY),
            ("nav", "n10", PostingStatus.EXPIRED, datetime(2026, 1, 25, tzinfo=UTC))]
# the ad of the first posting takes the second one in
SHARED = [("n1", "j1"), ("n2", "j2"), ("j3", "n3"), ("n6", "j6"), ("n8", "j8"), ("n9", "j9"), ("n11", "j11")]

NAV_5001_LATEST = datetime(2026, 2, 27, 12, 0, tzinfo=UTC)
JOBBNORGE_5001_LATEST = T0 + 2 * DAY + 3 * HOUR

# (municipality, source) -> (active_ads, only_this_source, active_ads_total, median_delay_hours)
EXPECTED = {
    ("5001", "nav"): (4, 1, 6, 0.0), ("5001", "jobbnorge"): (5, 2, 6, 2.0),
    ("4601", "nav"): (2, 0, 2, 0.0), ("4601", "jobbnorge"): (2, 0, 2, 4.0),
    ("1804", "nav"): (0, 0, 0, None), ("1804", "jobbnorge"): (0, 0, 0, None),
    ("0301", "nav"): (1, 0, 1, 0.0), ("0301", "jobbnorge"): (1, 0, 1, 1.0),
    ("3201", "nav"): (0, 0, 0, None), ("3201", "jobbnorge"): (0, 0, 0, None),
    ("1508", "nav"): (1, 1, 1, None), ("1508", "jobbnorge"): (0, 0, 1, None),
}
EXPECTED_SINCE = {
    **EXPECTED,
    # F counts for nav too: its posting expired after SINCE; D and E stay the only single-source ads.
    ("5001", "nav"): (5, 1, 6, 0.0), ("5001", "jobbnorge"): (5, 1, 6, 4.0),
}


def posting(source: str, source_ad_id: str, municipality: str, published: datetime | None) -> JobPosting:
    return JobPosting(source=source, source_ad_id=source_ad_id, title=f"Stilling {source_ad_id}",
                      employer_name="Kommunen", municipality_code=municipality, county_code=COUNTIES[municipality],
                      published_at=published, url=f"https://example.no/{source}/{source_ad_id}",
                      description_html=f"<p>Stilling {source_ad_id}</p>")


def build(engine) -> None:
    """Store the postings at their first-seen times, close some, then share ads as SHARED says."""
    for source in ("nav", "jobbnorge"):
        ensure_source(engine, source)
    for source, sid, municipality, seen, published in POSTINGS:
        with session_scope(engine) as session:
            store_batch(session, [posting(source, sid, municipality, published)], now=seen)
    for source, sid, status, closed in CLOSINGS:
        with session_scope(engine) as session:
            store_batch(session, [JobPosting(source=source, source_ad_id=sid, status=status, has_content=False,
                                             closed_at=closed)], now=closed)
    with session_scope(engine) as session:
        ids = {sid: (pid, ad) for sid, pid, ad in session.execute(select(Posting.source_ad_id, Posting.id,
                                                                         Posting.ad_id))}
        for first, second in SHARED:
            session.execute(update(Posting).where(Posting.id == ids[second][0]).values(ad_id=ids[first][1]))
            session.execute(delete(Ad).where(Ad.id == ids[second][1]))
        session.execute(update(Posting).where(Posting.id == ids["n12"][0]).values(ad_id=None))
        session.execute(delete(Ad).where(Ad.id == ids["n12"][1]))
