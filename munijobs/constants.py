"""Controlled vocabularies shared by spiders, pipelines, storage and the CLI.

Every value here is part of the analyst contract (see docs/data.md): add values, never rename them.
"""

from enum import StrEnum


class PostingStatus(StrEnum):
    """Life-cycle state of a posting and of a canonical ad."""

    ACTIVE = "active"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class EngagementType(StrEnum):
    """Kind of employment, mapped from NAV's vocabulary and the ad's own words."""

    PERMANENT = "permanent"
    TEMPORARY = "temporary"
    FIXED_TERM = "fixed_term"
    PROJECT = "project"
    SEASONAL = "seasonal"
    SUMMER = "summer"
    APPRENTICE = "apprentice"
    TRAINEE = "trainee"
    SELF_EMPLOYED = "self_employed"
    OTHER = "other"


class Extent(StrEnum):
    """Full-time or part-time."""

    FULL_TIME = "full_time"
    PART_TIME = "part_time"


class DeadlineKind(StrEnum):
    """What kind of application deadline an ad states."""

    DATE = "date"
    ASAP = "asap"
    ROLLING = "rolling"
    UNKNOWN = "unknown"


class RunStatus(StrEnum):
    """Outcome of one crawl run."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


class EmployerScope(StrEnum):
    """Which employers a spider keeps (setting EMPLOYER_SCOPE)."""

    MUNICIPAL = "municipal"
    PUBLIC = "public"
    ALL = "all"


class Language(StrEnum):
    """Language of an ad's text."""

    BOKMAAL = "nb"
    NYNORSK = "nn"
    ENGLISH = "en"
    OTHER = "other"


MUNICIPAL_ORG_FORMS = frozenset({"KOMM", "FYLK", "KF", "FKF", "IKS"})
"""Brønnøysund org forms whose units count as municipal: kommune, fylkeskommune and their enterprises."""

TOP_MUNICIPAL_ORG_FORMS = frozenset({"KOMM", "FYLK"})
"""Org forms of a municipality or county municipality itself."""

PUBLIC_ORG_FORMS = MUNICIPAL_ORG_FORMS | frozenset({"STAT", "SF", "ORGL", "FLI", "SÆR", "KIRK", "HF", "ADOS"})
"""Org forms treated as public sector for EMPLOYER_SCOPE=public (with NAV's sector "Offentlig" as a hint)."""
