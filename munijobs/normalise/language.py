"""Language of the ad text: Bokmål, Nynorsk, English or other, with lingua."""

from __future__ import annotations

from functools import cache

from lingua import Language as Lingua
from lingua import LanguageDetector, LanguageDetectorBuilder

from munijobs.constants import Language

CANDIDATES = (
    Lingua.BOKMAL, Lingua.NYNORSK, Lingua.ENGLISH, Lingua.SWEDISH, Lingua.DANISH, Lingua.GERMAN, Lingua.POLISH,
    Lingua.FINNISH, Lingua.LITHUANIAN, Lingua.FRENCH, Lingua.SPANISH,
)
"""Languages the detector chooses among: those of Norwegian job ads, and neighbours it must not confuse with them."""
MAPPED = {Lingua.BOKMAL: Language.BOKMAAL, Lingua.NYNORSK: Language.NYNORSK, Lingua.ENGLISH: Language.ENGLISH}
SAMPLE_CHARS = 1200
"""Detection reads at most this many characters (the start of the text); enough to tell Bokmål from Nynorsk."""


@cache
def detector() -> LanguageDetector:
    """The shared detector, built once."""
    return LanguageDetectorBuilder.from_languages(*CANDIDATES).with_low_accuracy_mode().build()


def detect_language(text: str | None) -> str | None:
    """nb, nn, en or other; None when there is no text."""
    if not text or not any(ch.isalpha() for ch in text):
        return None
    found = detector().detect_language_of(text[:SAMPLE_CHARS])
    if found is None:
        return None
    return MAPPED.get(found, Language.OTHER)
