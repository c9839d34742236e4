"""Strong links: the id of a posting at another source, found in a posting's URLs or text.

A link key is "<system>:<id>". A Jobbnorge posting's own key is "jobbnorge:<source_ad_id>", so a NAV posting whose
application URL is Jobbnorge's page of that ad shares a key with it. Webcruiter and EasyCruit keys link postings of
those systems' ads (NAV×NAV today; their own sources later).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PATTERNS = (
    ("jobbnorge", re.compile(r"jobbnorge\.no/(?:[a-z-]+/)*?(?:ledige-stillinger/stilling|stilling|job|apply)/(\d{3,})",
                             re.IGNORECASE)),
    ("jobbnorge", re.compile(r"jobbnorge[\s-]*(?:id|nr\.?|nummer|ref\.?)\s*[:.#]?\s*(\d{3,})", re.IGNORECASE)),
    ("jobbnorge", re.compile(r"jobbnorge\.no/\S*?[?&](?:jobid|id)=(\d{3,})", re.IGNORECASE)),
    ("webcruiter", re.compile(r"webcruiter\.(?:com|no)/\S*?[?&](?:advertid|advert_id|jobid|id)=(\d{3,})",
                              re.IGNORECASE)),
    ("webcruiter", re.compile(r"webcruiter\.(?:com|no)/\S*?/(?:job|jobs|advert|adverts|public|vacancy)/(\d{3,})",
                              re.IGNORECASE)),
    ("easycruit", re.compile(r"easycruit\.com/\S*?(?:vacancy|job)/(?:application/)?(\d{3,})", re.IGNORECASE)),
    ("easycruit", re.compile(r"easycruit\.com/\S*?[?&](?:vacancy_?id|jobid|id)=(\d{3,})", re.IGNORECASE)),
)
OWN_KEY_SOURCES = frozenset({"jobbnorge", "webcruiter", "easycruit"})
"""Sources whose own ad id is the id other sources link to."""


def link_keys(source: str, source_ad_id: str, texts: Iterable[str | None]) -> frozenset[str]:
    """The posting's own key (for sources others link to) and every other-source id in its URLs and text."""
    keys = {f"{source}:{source_ad_id}"} if source in OWN_KEY_SOURCES else set()
    for text in texts:
        if not text:
            continue
        for system, pattern in _PATTERNS:
            keys.update(f"{system}:{int(number)}" for number in pattern.findall(text))
    return frozenset(keys)
