"""Item pipelines, one job each, in this order (see ITEM_PIPELINES in munijobs.settings):
clean (100) → normalise (200) → validate (300) → deduplicate (400) → store (500).

Only `JobPosting` items are worked on; other items (e.g. `StateCheckpoint`) pass through to the store.
"""

from pipelines.clean import CleanPipeline
from pipelines.deduplicate import DeduplicatePipeline
from pipelines.normalise import NormalisePipeline
from pipelines.store import StorePipeline
from pipelines.validate import ValidatePipeline

__all__ = ["CleanPipeline", "DeduplicatePipeline", "NormalisePipeline", "StorePipeline", "ValidatePipeline"]
