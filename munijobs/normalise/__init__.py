"""Normalisation of job postings: pure functions from the raw fields spiders fill to the normalised fields."""

from munijobs.normalise.dates import DeadlineResult, StartResult, parse_date, parse_deadline, parse_start
from munijobs.normalise.engagement import EngagementResult, map_structured_engagement, parse_engagement
from munijobs.normalise.language import detect_language
from munijobs.normalise.occupation import best_styrk
from munijobs.normalise.percent import PercentResult, derive_extent, parse_job_percent, parse_percent_field
from munijobs.normalise.places import county_of_postal_code, resolve_county, resolve_municipality
from munijobs.normalise.posting import normalise_posting
from munijobs.normalise.privacy import mask_personal_data
from munijobs.normalise.salary import SalaryResult, parse_salary
from munijobs.normalise.text import clean_text, html_to_text, repair_glued_text

__all__ = [
    "DeadlineResult",
    "EngagementResult",
    "PercentResult",
    "SalaryResult",
    "StartResult",
    "best_styrk",
    "clean_text",
    "county_of_postal_code",
    "derive_extent",
    "detect_language",
    "html_to_text",
    "map_structured_engagement",
    "mask_personal_data",
    "normalise_posting",
    "parse_date",
    "parse_deadline",
    "parse_engagement",
    "parse_job_percent",
    "parse_percent_field",
    "parse_salary",
    "parse_start",
    "repair_glued_text",
    "resolve_county",
    "resolve_municipality",
]
