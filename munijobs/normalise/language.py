"""Language of the ad text: Bokmål, Nynorsk, English or other.

lingua decides the language, from a sample of the ad's running text (not its headings, labels and lists of place
names, which made English ads look Norwegian), its confidence weighed by how common each language is in municipal
ads. It often mistakes Bokmål for Nynorsk, mostly on short texts (7 of 30 Bokmål ads of a late test set, 6 of them
under 200 characters), so when it says Norwegian, the written standard is taken from words whose spelling differs
between the two standards, where they point one way. lingua knows no Sami language: text where many words carry
letters only Sami uses is "other", and so is text in a script none of the candidates uses.
"""

from __future__ import annotations

import re
from functools import cache

from lingua import Language as Lingua
from lingua import LanguageDetector, LanguageDetectorBuilder

from munijobs.constants import Language
from munijobs.normalise.text import lowered, word_set

CANDIDATES = (
    *(Lingua.BOKMAL, Lingua.NYNORSK, Lingua.ENGLISH, Lingua.SWEDISH, Lingua.DANISH, Lingua.GERMAN),
    *(Lingua.POLISH, Lingua.FINNISH, Lingua.LITHUANIAN, Lingua.FRENCH, Lingua.SPANISH),
)
"""Languages the detector chooses among: those of Norwegian job ads, and neighbours it must not confuse with them."""
MAPPED = {Lingua.BOKMAL: Language.BOKMAAL, Lingua.NYNORSK: Language.NYNORSK, Lingua.ENGLISH: Language.ENGLISH}
PRIORS = {Lingua.BOKMAL: 0.6, Lingua.NYNORSK: 0.3, Lingua.ENGLISH: 0.05}
"""How common each language is in Norwegian municipal ads; every other candidate counts OTHER_PRIOR. lingua's
confidence is weighed by it, so that a near tie ("Danish 0.50, Bokmål 0.42" on a short ad) goes to the likely one."""
OTHER_PRIOR = 0.01
SAMPLE_CHARS = 120
"""lingua reads at most this many characters: its time grows with the sample, and its low-accuracy mode is documented
to lose accuracy only below 120. 120, 150, 200 and 250 give the same results on the labelled cases."""
SENTENCE_WORDS = 8
"""Lines of at least this many words are running text; shorter ones (headings, labels, list items) are left out of
lingua's sample while there is enough running text."""
MIN_SAMPLE_CHARS = 60
"""With less running text than this, the sample is taken from the whole text."""
MIN_WITHOUT_NAMES = 20
"""With less than this left once capitalised words are out, the sample keeps them."""
MIN_WORDS = 3
"""A text of fewer words ("Klikk her", a lone heading) says nothing about its language: it gets none."""
MARKER_CHARS = 1500
"""The Bokmål/Nynorsk word check reads at most this many characters."""

BOKMAAL_WORDS = word_set(
    """ikke et hun hva hvor hvordan hvis fra bare nå være vært ble mye noe noen selv sammen hele flere søker søkere
    søkeren ansatt ansatte ansettelse arbeidsoppgaver oppgaver oppgavene stillingen skole skolen elever elevene
    tjenester tjenesten tjenestene hjemmetjenesten ønsker bolig boliger vann fører førerkort egen egne mer hver
    jobber avdelinger avdelingen annet veiledning saksbehandling personlig egnethet innbyggerne innbyggere opptatt
    lærer lærere sykepleier sykepleiere sykehjem uke disse dere deres vedlikehold renseanlegg pumpestasjoner
    ordninger pensjonsordninger tverrfaglig faglig lek vennskap barnehager leder enhetsleder"""
)
"""Common words written only in Bokmål: Nynorsk writes them otherwise and allows no such form (so not "blir",
"også", "derfor", "gi", which Nynorsk allows too)."""
NYNORSK_WORDS = word_set(
    """ikkje eit ho kva kvar korleis frå berre vere vore vert vart verte mykje noko nokon nokre sjølv saman heile
    fleire søkjer søkjarar søkjaren søkjar tilsett tilsette tilsetjing arbeidsoppgåver oppgåver oppgåvene stillinga
    skule skulen elevar elevane tenester tenesta tenestene heimetenesta ønskjer ynskjer difor òg bustad bustader vatn
    førar førarkort gje gjev eigen eigne meir jobbar avdelingar avdelinga anna rettleiing sakshandsaming personleg
    eignaheit innbyggjarane innbyggjarar oppteken opptekne lærar lærarar sjukepleiar sjukepleiarar sjukeheim veke
    desse dykk dykkar born leik venskap barnehagar vedlikehald reinseanlegg pumpestasjonar ordningar
    pensjonsordningar tverrfagleg fagleg leiar einingsleiar hjå ein"""
)
"""Common words written only in Nynorsk: Bokmål writes them otherwise (so not "viss", which Bokmål uses too)."""
_WORD = re.compile(r"[a-zæøåäöòé]+")
_QUOTED = re.compile(r"«[^»\n]{0,200}»|“[^”\n]{0,200}”|\"[^\"\n]{0,200}\"")
"""A quotation (often a name or a title in the other standard): left out of the word count."""
SAMI_LETTERS = frozenset("áčđŋšŧž")
"""Letters of Northern and Lule Sami spelling that Norwegian words do not use."""
SAMI_SHARE = 0.12
"""Share of words with a Sami letter above which the text is Sami (Norwegian ads only name a few Sami places)."""


@cache
def detector() -> LanguageDetector:
    """The shared detector, built once."""
    return LanguageDetectorBuilder.from_languages(*CANDIDATES).with_low_accuracy_mode().build()


def _marker_counts(text: str) -> tuple[int, int]:
    words = _WORD.findall(_QUOTED.sub(" ", lowered(text)[:MARKER_CHARS]))
    return sum(map(BOKMAAL_WORDS.__contains__, words)), sum(map(NYNORSK_WORDS.__contains__, words))


def _standard(bokmaal: int, nynorsk: int) -> str | None:
    """The standard the marker words point to: all of them one way, or at least twice as many one way."""
    if bokmaal >= max(1, 2 * nynorsk):
        return Language.BOKMAAL
    if nynorsk >= max(1, 2 * bokmaal):
        return Language.NYNORSK
    return None


def running_text_sample(text: str) -> str:
    """Up to SAMPLE_CHARS of the ad's running text for lingua, without capitalised words.

    Running text is the lines of at least SENTENCE_WORDS words (the whole text when they are too few). Capitalised
    words are mostly names of places and employers ("Mosjøen", "Svolvær legesenter"); lingua's letter rules took
    their "ø" and "æ" for a sign of Norwegian in English ads. Without them the sample may get too short: then it
    keeps them.
    """
    running: list[str] = []
    size = 0
    for line in text.split("\n"):
        if line.count(" ") + 1 >= SENTENCE_WORDS:
            running.append(line)
            size += len(line) + 1
            if size >= 3 * SAMPLE_CHARS:
                break
    words = (" ".join(running) if size > MIN_SAMPLE_CHARS else text)[: 3 * SAMPLE_CHARS].split()
    sample = " ".join(word for word in words if not word[0].isupper())[:SAMPLE_CHARS]
    return sample if len(sample) >= MIN_WITHOUT_NAMES else " ".join(words)[:SAMPLE_CHARS]


def _is_sami(text: str) -> bool:
    lower = lowered(text)
    if all(letter not in lower for letter in SAMI_LETTERS):
        return False
    words = lower[:MARKER_CHARS].split()
    marked = sum(1 for word in words if not SAMI_LETTERS.isdisjoint(word))
    return bool(words) and marked >= SAMI_SHARE * len(words)


def detect_language(text: str | None) -> str | None:
    """nb, nn, en or other; None when there is no text, or fewer than MIN_WORDS words of it."""
    if not text or not any(ch.isalpha() for ch in text) or len(text.split(None, MIN_WORDS)) < MIN_WORDS:
        return None
    if _is_sami(text):
        return Language.OTHER
    confidences = detector().compute_language_confidence_values(running_text_sample(text))
    best = max(confidences, key=lambda found: found.value * PRIORS.get(found.language, OTHER_PRIOR))
    if best.value == 0:
        return Language.OTHER
    language = MAPPED.get(best.language, Language.OTHER)
    if language in (Language.BOKMAAL, Language.NYNORSK):
        bokmaal, nynorsk = _marker_counts(text)
        return _standard(bokmaal, nynorsk) or language
    return language
