"""Engagement type (fast, vikariat, engasjement, ...) from NAV's vocabulary and from the ad's own words."""

from __future__ import annotations

import re
from dataclasses import dataclass

from munijobs.constants import EngagementType as E
from munijobs.normalise.text import hint_spans

STRUCTURED = {
    "fast": E.PERMANENT,
    "vikariat": E.TEMPORARY,
    "vikar": E.TEMPORARY,
    "midlertidig": E.TEMPORARY,
    "mellombels": E.TEMPORARY,
    "engasjement": E.FIXED_TERM,
    "åremål": E.FIXED_TERM,
    "prosjekt": E.PROJECT,
    "sesong": E.SEASONAL,
    "feriejobb": E.SUMMER,
    "sommerjobb": E.SUMMER,
    "trainee": E.TRAINEE,
    "lærling": E.APPRENTICE,
    "selvstendig næringsdrivende": E.SELF_EMPLOYED,
    "annet": E.OTHER,
    "permanent": E.PERMANENT,
    "temporary": E.TEMPORARY,
}
"""NAV's engagementtype values (and the first word of Jobbnorge/Webcruiter values), lower case."""

NOT_NOW = re.compile(r"\b(?:mulighet for|moglegheit for|mulighet til|kan gå over i|over til|og)\s+$", re.IGNORECASE)
"""Words before "fast" that make it a prospect ("vikariat med mulighet for fast stilling"), not the engagement."""
# Title words: terse, so single words count. Order matters: more specific words first.
_TITLE_RULES: tuple[tuple[E, str], ...] = (
    (
        E.SUMMER,
        r"sommer\w*vikar\w*|sommar\w*vikar\w*|sommerjobb\w*|sommarjobb\w*|feriejobb\w*|ferievikar\w*"
        r"|sommerhjelp\w*|sommarhjelp\w*|feriehjelp\w*|summer job",
    ),
    (E.APPRENTICE, r"lærling\w*|lærekandidat\w*|læreplass\w*|lærlingeplass\w*|apprentice\w*"),
    (E.TRAINEE, r"trainee\w*"),
    (E.SEASONAL, r"sesong\w*"),
    (E.PROJECT, r"prosjektstilling\w*|prosjektengasjement\w*|prosjekttilsetting\w*"),
    (E.SELF_EMPLOYED, r"selvstendig næringsdrivende|sjølvstendig næringsdrivande"),
    (E.FIXED_TERM, r"engasjement\w*|åremål\w*|tidsbegrens\w*|tidsavgrensa\w*|fixed[- ]term"),
    (E.TEMPORARY, r"\w*vikar\w*|midlertidig\w*|mellombels\w*|temporary"),
    (E.PERMANENT, r"fast(?:e)?(?=\W|$)|permanent"),
)
# Text words: only phrases that state the engagement, not words that merely occur ("med stort engasjement").
_TEXT_RULES: tuple[tuple[E, str], ...] = (
    (
        E.SUMMER,
        r"sommer\w*vikar\w*|sommar\w*vikar\w*|sommerjobb\w*|sommarjobb\w*|feriejobb\w*|ferievikar\w*"
        r"|sommerhjelp\w*|sommarhjelp\w*|feriehjelp\w*|summer job",
    ),
    (
        E.APPRENTICE,
        r"lærlingplass\w*|lærlingeplass\w*|læreplass\w*|lærlingstilling\w*|lærekandidatplass\w*"
        r"|som lærling\w*|ledige? lærling\w*|apprenticeship",
    ),
    (E.TRAINEE, r"traineestilling\w*|som trainee|ledige? trainee\w*|traineeprogram\w*"),
    (E.SEASONAL, r"sesongstilling\w*|sesongarbeid\w*|sesongjobb\w*|sesongbasert"),
    (E.PROJECT, r"prosjektstilling\w*|prosjektengasjement\w*|prosjekttilsetting\w*"),
    (E.SELF_EMPLOYED, r"selvstendig næringsdrivende|sjølvstendig næringsdrivande"),
    (
        E.FIXED_TERM,
        r"(?:et|eit|ledig|nytt|årig|års|\d+\s*%)\s+engasjement\b|engasjementsstilling\w*"
        r"|engasjement (?:i|på|for|ut|fram|frem|til) (?:\d|ett|eitt|to|tre|fire|fem|seks|et|eit|ei)\w*"
        r"|åremålsstilling\w*|(?:på|et|eit) åremål|tidsbegrensa?e?t? (?:stilling|ansettelse|engasjement)"
        r"|tidsavgrensa (?:stilling|tilsetjing)|fixed[- ]term",
    ),
    (
        E.TEMPORARY,
        r"\w*vikariat\w*|(?:som|ledig|søker|søkjer|trenger|treng)(?: \w+)? \w*vikar(?:er|ar)?\b"
        r"|(?:midlertidig|mellombels)e? (?:stilling|ansettelse|tilsetting|tilsetjing|\d+\s*%)\w*"
        r"|temporary position",
    ),
    (
        E.PERMANENT,
        r"(?:fast|faste) (?:\d+\s*%\s*)?(?:stilling\w*|ansettelse|tilsetting|tilsetjing|heimel"
        r"|hjemmel|fulltidsstilling|deltidsstilling|\w*stilling)\b|\d+\s*% fast\b|permanent position",
    ),
)


STEMS: dict[E, tuple[str, ...]] = {
    E.SUMMER: ("sommer", "sommar", "ferie", "summer"),
    E.APPRENTICE: ("lærling", "lærekandidat", "læreplass", "apprentice"),
    E.TRAINEE: ("trainee",),
    E.SEASONAL: ("sesong",),
    E.PROJECT: ("prosjekt",),
    E.SELF_EMPLOYED: ("næringsdriv",),
    E.FIXED_TERM: ("engasjement", "åremål", "tidsbegrens", "tidsavgrens", "fixed"),
    E.TEMPORARY: ("vikar", "midlertidig", "mellombels", "temporary"),
    E.PERMANENT: ("fast", "permanent"),
}
"""Lower-case stems one of which a rule's words always contain: rules whose stems are absent are not run."""


def _compile(rules: tuple[tuple[E, str], ...]) -> tuple[tuple[E, re.Pattern[str]], ...]:
    return tuple((kind, re.compile(rf"\b(?:{pattern})", re.IGNORECASE)) for kind, pattern in rules)


TITLE_RULES = _compile(_TITLE_RULES)
TEXT_RULES = _compile(_TEXT_RULES)


@dataclass(frozen=True)
class EngagementResult:
    """The engagement type, and the disagreement between the structured field and the text when there is one."""

    engagement_type: str | None
    conflict: dict[str, str] | None = None


def map_structured_engagement(raw: str | None) -> str | None:
    """NAV's engagementtype (or a similar source value) mapped to EngagementType; None when unknown."""
    if not raw or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in STRUCTURED:
        return STRUCTURED[value]
    first = re.split(r"[/,;]| og ", value)[0].strip()
    return STRUCTURED.get(first)


def _is_prospect(kind: E, text: str, start: int) -> bool:
    return kind == E.PERMANENT and NOT_NOW.search(text, max(0, start - 20), start) is not None


def engagement_in_text(text: str | None, *, title: bool = False) -> str | None:
    """The first engagement type that `text` states explicitly; titles accept single words ("Vikar", "fast").

    At the same position the more specific type wins (a "sommervikar" is summer, not temporary). A rule is only run
    on the lines that hold one of its stems.
    """
    if not text:
        return None
    first: tuple[int, E] | None = None
    for kind, pattern in TITLE_RULES if title else TEXT_RULES:
        for start, end in hint_spans(text, STEMS[kind]):
            found = (m for m in pattern.finditer(text, start, end) if not _is_prospect(kind, text, m.start()))
            match = next(found, None)
            if match:
                if first is None or match.start() < first[0]:
                    first = (match.start(), kind)
                break
    return first[1] if first else None


def parse_engagement(structured: str | None, title: str | None, text: str | None) -> EngagementResult:
    """Engagement type: the text's explicit statement (title first, then text) wins over the structured field."""
    from_structured = map_structured_engagement(structured)
    from_text = engagement_in_text(title, title=True) or engagement_in_text(text)
    if from_text is None:
        return EngagementResult(from_structured)
    if from_structured is not None and from_structured != from_text:
        return EngagementResult(from_text, {"structured": str(from_structured), "text": str(from_text)})
    return EngagementResult(from_text)
