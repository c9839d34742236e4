"""Normalise: fill the normalised fields of a posting from its raw fields (munijobs.normalise)."""

from __future__ import annotations

from munijobs.items import JobPosting
from munijobs.normalise import normalise_posting


class NormalisePipeline:
    """Run the pure normaliser over every posting that carries content."""

    def process_item(self, item):
        if isinstance(item, JobPosting) and item.has_content:
            normalise_posting(item)
        return item
