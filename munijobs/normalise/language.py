"""Language of the ad text: Bokmål, Nynorsk, English or other.

lingua decides the language. On short texts it often mistakes Bokmål for Nynorsk and back (3 of 7 short Bokmål ads in
the labelled set), so when it says Norwegian, the written standard is taken from words whose spelling differs between
the two standards, where they clearly point one way.
"""

from __future__ import annotations

import re
from functools import cache

from lingua import Language as Lingua
from lingua import LanguageDetector, LanguageDetectorBuilder

from munijobs.constants import Language
from munijobs.normalise.text import word_set

CANDIDATES = (
    *(Lingua.BOKMAL, Lingua.NYNORSK, Lingua.ENGLISH, Lingua.SWEDISH, Lingua.DANISH, Lingua.GERMAN),
    *(Lingua.POLISH, Lingua.FINNISH, Lingua.LITHUANIAN, Lingua.FRENCH, Lingua.SPANISH),
)
"""Languages the detector chooses among: those of Norwegian job ads, and neighbours it must not confuse with them."""
MAPPED = {Lingua.BOKMAL: Language.BOKMAAL, Lingua.NYNORSK: Language.NYNORSK, Lingua.ENGLISH: Language.ENGLISH}
SAMPLE_CHARS = 250
"""lingua reads at most this many characters (the start of the text)."""
MARKER_CHARS = 3000
"""The Bokmål/Nynorsk word check reads at most this many characters."""

BOKMAAL_WORDS = word_set(
    """ikke et hun hva hvor hvordan hvis fra bare nå være vært blir ble mye noe noen selv sammen hele flere søker
    søkere søkeren ansatt ansatte ansettelse arbeidsoppgaver oppgaver oppgavene stillingen skole skolen elever
    elevene tjenester tjenesten tjenestene hjemmetjenesten ønsker derfor også bolig boliger vann fører førerkort gi
    gir egen egne mer hver jobber avdelinger avdelingen annet veiledning saksbehandling personlig
    egnethet innbyggerne innbyggere opptatt lærer lærere sykepleier sykepleiere sykehjem uke disse dere deres
    vedlikehold renseanlegg pumpestasjoner ordninger pensjonsordninger tverrfaglig faglig lek vennskap barnehager
    leder enhetsleder"""
)
"""Common words written only in Bokmål (their Nynorsk forms differ)."""
NYNORSK_WORDS = word_set(
    """ikkje eit ho kva kvar korleis viss frå berre vere vore vert vart verte mykje noko nokon nokre sjølv saman heile
    fleire søkjer søkjarar søkjaren søkjar tilsett tilsette tilsetjing arbeidsoppgåver oppgåver oppgåvene stillinga
    skule skulen elevar elevane tenester tenesta tenestene heimetenesta ønskjer ynskjer difor òg bustad bustader vatn
    førar førarkort gje gjev eigen eigne meir jobbar avdelingar avdelinga anna rettleiing sakshandsaming
    personleg eignaheit innbyggjarane innbyggjarar oppteken opptekne lærar lærarar sjukepleiar sjukepleiarar
    sjukeheim veke desse dykk dykkar born leik venskap barnehagar vedlikehald reinseanlegg pumpestasjonar ordningar
    pensjonsordningar tverrfagleg fagleg leiar einingsleiar hjå ein"""
)
"""Common words written only in Nynorsk (their Bokmål forms differ)."""
_WORD = re.compile(r"[a-zæøåäöòé]+")


@cache
def detector() -> LanguageDetector:
    """The shared detector, built once."""
    return LanguageDetectorBuilder.from_languages(*CANDIDATES).with_low_accuracy_mode().build()


def _marker_counts(text: str) -> tuple[int, int]:
    words = _WORD.findall(text[:MARKER_CHARS].lower())
    return sum(map(BOKMAAL_WORDS.__contains__, words)), sum(map(NYNORSK_WORDS.__contains__, words))


def _standard(bokmaal: int, nynorsk: int, needed: int, ratio: int) -> str | None:
    if bokmaal >= needed and bokmaal >= ratio * nynorsk:
        return Language.BOKMAAL
    if nynorsk >= needed and nynorsk >= ratio * bokmaal:
        return Language.NYNORSK
    return None


def detect_language(text: str | None) -> str | None:
    """nb, nn, en or other; None when there is no text."""
    if not text or not any(ch.isalpha() for ch in text):
        return None
    found = detector().detect_language_of(text[:SAMPLE_CHARS])
    if found is None:
        return None
    language = MAPPED.get(found, Language.OTHER)
    if language in (Language.BOKMAAL, Language.NYNORSK):
        bokmaal, nynorsk = _marker_counts(text)
        return _standard(bokmaal, nynorsk, needed=2, ratio=2) or language
    return language
