"""Normalise: fill the normalised fields of a posting from its raw fields (munijobs.normalise)."""

from __future__ import annotations

import logging

from munijobs.items import JobPosting
from munijobs.normalise import normalise_posting

logger = logging.getLogger(__name__)


class NormalisePipeline:
    """Run the pure normaliser over every posting that carries content.

    Notes the spider made (e.g. a broken employer chain) are kept. A value that breaks the normaliser does not
    lose the ad: it is stored with its raw fields and the error in `normalise_notes["normalise_error"]`, counted
    in the stat `munijobs/normalise_failed` (the run is then partial).
    """

    def __init__(self, crawler=None):
        self.stats = crawler.stats if crawler is not None else None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        if isinstance(item, JobPosting) and item.has_content:
            notes = dict(item.normalise_notes)
            try:
                normalise_posting(item)
            except Exception as exc:  # one odd value must not lose the ad; the raw side is stored for renormalise
                logger.warning("%s: the normaliser failed (%r); stored with its raw fields", item.key, exc)
                item.normalise_notes = {"normalise_error": repr(exc)[:300]}
                if self.stats is not None:
                    self.stats.inc_value("munijobs/normalise_failed")
            item.normalise_notes = {**notes, **item.normalise_notes}
        return item
