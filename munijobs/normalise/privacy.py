"""Masking of contact persons in ad texts: names, phone numbers and e-mail addresses.

One step, run on a posting before anything of it is stored (`mask_posting`): its HTML, title and job title are
masked in place, so the raw HTML kept for renormalising, the plain text, the search index, the exports and the
history never hold the original. Masks: NAME_MASK, PHONE_MASK, EMAIL_MASK.

* Phones are found by Google's libphonenumber (the `phonenumbers` port, `PhoneNumberMatcher` for region NO), which
  knows Norway's numbering plan: every grouping ("4012 3456", "912 000 33", "+47 934 567 12", "0047 ..."), and no
  org numbers (nine digits) or short ids. Dates and numbers labelled as org, case, reference or account numbers or
  amounts are kept.
* E-mail addresses, also written "(at)", "[at]" and "[dot]".
* Names: every name, phone and e-mail of the source's own contact list, wherever it occurs; and names in contact
  phrases ("Spørsmål kan rettes til avdelingsleder Kari Nordmann", "Kontaktperson: ...") and contact blocks (lines
  of a name, a title, a phone, an e-mail). A name there is two to five capitalised words; employer, unit, place and
  job names are told apart by their words (kommune, skole, -senteret, -leder, place names...).
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import chain
from typing import Any, NamedTuple

import phonenumbers

from munijobs.items import ContactPerson, JobPosting
from munijobs.normalise.places import is_place_name
from munijobs.normalise.text import BLOCK_TAGS, SENTENCE_STARTERS, lowered, word_set

NAME_MASK = "[navn]"
PHONE_MASK = "[telefon]"
EMAIL_MASK = "[e-post]"
MASKS = (NAME_MASK, PHONE_MASK, EMAIL_MASK)

# -- e-mail ----------------------------------------------------------------------------------------------------------

_AT = re.compile(r"@")
_SPELLED_AT = re.compile(r"@| ?[(\[] ?at ?[)\]] ?", re.IGNORECASE)
"""An "@", or one written "(at)" / "[at]" (looked for only when the text has such a bracket: a slower pattern)."""
_DOT = r"(?: ?[(\[] ?dot ?[)\]] ?|\.)"
_DOMAIN = re.compile(rf"[\w-]+(?:{_DOT}[\w-]+)*{_DOT}[a-z]{{2,}}\b", re.IGNORECASE)
_LOCAL_CHARS = frozenset("._+-'")

# -- phones ----------------------------------------------------------------------------------------------------------

_PHONE_CANDIDATE = re.compile(r"[+(]{0,2}\d[\d \u00a0().\-/]{6,40}\d")
"""A run of digits and separators that may hold phone numbers: libphonenumber reads only these (fast on long text)."""
_MIN_PHONE_DIGITS = 8
_DIGIT_GROUPS = re.compile(r"\d+")
_DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})")
NOT_PHONE_CONTEXT = re.compile(
    r"\b(?:org(?:anisasjons)?\.?\s*-?\s*n(?:umme)?r|foretaks(?:nummer|nr)|konto(?:nummer|nr)?"
    r"|ref(?:eranse)?(?:nr|nummer)?|(?:prosjekt|faktura|kunde|ordre)(?:nr|nummer)|saks?(?:nr|nummer)|arkiv(?:sak)?(?:nr|nummer)?|stillings?(?:nr|nummer|id)|annonse(?:nr|id)|id|kr|nok"
    r"|dato|frist|postboks|pb)\.?\s*:?\s*$",
    re.IGNORECASE,
)
"""Words that, right before a number, say it is an org number, account, reference, amount or date."""

# -- names -----------------------------------------------------------------------------------------------------------

_UPPER = "A-ZÆØÅÄÖÜÉÈÁ"
_LOWER = "a-zæøåäöüéèáóúíñ"
_NAME_WORD = rf"[{_UPPER}][{_LOWER}]+(?:['’][{_LOWER}]+)?(?:-[{_UPPER}][{_LOWER}]+)*"
_PARTICLE = r"(?:van|von|der|den|de|da|di|af|la|le|ter|bin)"
_NAME_PART = rf"(?:{_NAME_WORD}|[{_UPPER}]\.)"
_GAP = rf"[ \u00a0]+(?:{_PARTICLE}[ \u00a0]+)*"
_NAME = re.compile(rf"(?<![\w@.\-\[]){_NAME_PART}(?:{_GAP}{_NAME_PART})+(?![\w@\-])")
"""Two or more capitalised words (particles such as "van der" and initials allowed between them)."""
MAX_NAME_WORDS = 5
"""A longer run of capitalised words is a flattened list or heading ("Journalistikk Kommunikasjon Språk Norsk ..."),
not a name."""
_NAME_TOKEN = re.compile(_NAME_PART)
_LABELLED_FIRST_NAME = re.compile(
    rf"(?i:kontaktperson(?:er|ar)?|kontakt|kontaktinformasjon|contact)[ \t]*:[ \t]*(?:[{_LOWER}-]+[ \t]+){{0,2}}"
    rf"(?P<name>{_NAME_WORD})(?=[ \t]*(?:[,(/\n]|[-–][ \t]|$))"
)
"""A lone first name right after a contact label ("Kontaktperson: Kari, tlf. ..."): a name, unless a unit's word."""

CONTACT_TRIGGERS = (
    "kontakt", "rettes", "rettast", "retta ", "rettet ", "spørsmål", "opplysning", "informasjon",
    "henvend", "ring ", "tlf", "telefon", "mobil", "mob.", "mob:", "e-post", "epost", "e-mail", "email", "questions",
    "contact", "@", "[navn]", "[telefon]", "[e-post]", "kan nås", "treffes", "svarer på", "fås ved", "fås hos",
    "få ved", "gis av", "gjevast av", "gis ved", "vite meir", "vite mer", "v/", "att:", "attn",
)
"""Lower-case words of a sentence about whom to contact; names are looked for only in such sentences and blocks."""
_NEWLINE = re.compile("\n")
NOT_NAME_WORDS = word_set(
    """kommune kommunen kommunes kommunens fylkeskommunens nettside nettsider nettsidene nettstad heimeside
    hjemmeside fylkeskommune fylkeskommunen fylke fylket herad heradet kommunal kommunale
    stat staten statens direktorat direktoratet departement departementet etat etaten
    skole skolen skule skulen skoler skular barnehage barnehagen barnehagar barnehager sfo
    sykehjem sykehjemmet sjukeheim sjukeheimen omsorgssenter bofellesskap bustad bolig boliger
    senter senteret sentrum center centre hus huset heim heimen hjem hjemmet
    tjeneste tjenesten tjenester tenesta teneste tenester avdeling avdelingen avdelinga avdelingar
    enhet enheten eining eininga seksjon seksjonen kontor kontoret kontora sekretariat sekretariatet
    legekontor legevakt legevakta helsestasjon helsestasjonen sykehus sjukehus klinikk
    vidaregåande videregående ungdomsskole ungdomsskule barneskole barneskule oppvekstsenter oppvekst
    helse omsorg velferd oppvekst kultur teknisk drift vann avløp havn hamn brann redning
    bydel bydelen distrikt distriktet region regionen iks kf fkf as asa sa ba ans stiftelse stiftelsen
    nav hr ikt it klp kommunehuset rådhuset rådhus servicetorg servicetorget innbyggertorg innbyggertorget
    bibliotek biblioteket museum museet kirke kirken kyrkje kyrkja menighet sokn
    nord sør øst vest nordre søndre vestre austre østre indre ytre øvre nedre midt store lille nye gamle
    norge noreg norway oslo norsk engelsk samisk svensk dansk tysk fransk spansk polsk
    pedagogisk faglig fagleg klinisk sosial sosialt
    microsoft teams office windows linkedin facebook instagram webcruiter jobbnorge visma
    mandag tirsdag onsdag torsdag fredag lørdag søndag måndag tysdag januar februar mars april mai juni juli
    august september oktober november desember"""
)
"""Lower-case words that make a capitalised run an employer, unit, place, product or date, not a person."""
NOT_NAME_SUFFIXES = (
    "kommune", "skole", "skule", "barnehage", "senter", "senteret", "sentret", "huset", "heimen", "hjemmet",
    "tjenesten", "tenesta", "tjenester", "tenester", "kontoret", "avdelingen", "avdelinga", "etaten", "torget",
    "enheten", "eininga", "sykehjem", "sjukeheim", "stasjon", "stasjonen", "tunet", "parken",
    "vakt", "vakta", "leder", "leiar", "lærer", "lærar", "pleier", "pleiar", "arbeider", "arbeidar", "konsulent",
    "rådgiver", "rådgjevar", "sjef", "assistent", "ingeniør", "terapeut", "medarbeider", "medarbeidar",
    "koordinator", "sekretær", "direktør", "rektor", "lektor", "pedagog", "vikar", "betjent", "operatør",
    "fagarbeider", "fagarbeidar", "sykepleier", "sjukepleiar", "psykolog", "ergoterapeut", "fysioterapeut",
    "isk", "lig", "leg", "ende", "tjeneste", "teneste", "fylke", "fylket", "byen", "bygda", "forbundet",
    "foreningen", "forening", "laget", "selskapet", "selskap", "rådet", "styret", "utvalget", "prosjektet", "vesen",
    "verket", "banken", "gruppen", "gruppa", "drift", "service", "eiendom", "energi", "kraft", "transport",
    "renovasjon", "miljø", "kontor", "klinikk", "klinikken", "sentral", "sentralen", "havn", "hamn", "hallen",
    "museum", "museet", "teater", "teatret", "kirke", "kyrkje", "sjon", "sjonen", "heten", "skap", "skapet", "ikk",
    "ikken", "grad", "utdanning", "fag", "faget",
)
"""Endings of words that are units, places, jobs or adjectives rather than names ("Helsehuset", "Avdelingsleder")."""
NOT_NAME_FIRST = SENTENCE_STARTERS | word_set(
    """Kontakt Kontaktperson Kontaktpersoner Kontaktpersonar Kontaktinformasjon Spørsmål Ring Ta Telefon
    Tlf Mobil Mob Epost E-post Tittel Stilling Navn Namn Adresse Org Ved Hos Eller Send Søk Søknader Nærmere
    Nærmare Ytterligere Opplysninger Opplysningar Informasjon Questions Contact Please Dr Mr Mrs Ms Fru Herr
    Hilsen Helsing Vennlig Venleg Mvh Beste Velkommen Velkomen"""
)
"""Capitalised words that start or end a sentence or a label, cut from the edges of a run before it is judged."""
_ABBREVIATIONS = word_set("tlf tel mob nr ca evt ev jf pr kl bl f eks mv osv dvs inkl avd st ref org")
"""Words written with a full stop that does not end a sentence."""
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_BLOCK_REACH = 3
"""Lines of a contact block around a line with a phone or e-mail: a line this close that is just a name is one."""


@dataclass(frozen=True)
class _Span:
    """Characters start:end of a text are personal data, to be replaced by `mask`."""

    start: int
    end: int
    mask: str


# -- finding what to mask --------------------------------------------------------------------------------------------


def _email_spans(text: str) -> list[_Span]:
    spans = []
    lower = lowered(text)
    spelled = "at)" in lower or "at]" in lower or "at )" in lower or "at ]" in lower
    if not spelled and "@" not in text:
        return spans
    for at in (_SPELLED_AT if spelled else _AT).finditer(text):
        domain = _DOMAIN.match(text, at.end())
        if not domain:
            continue
        start = at.start()
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in _LOCAL_CHARS):
            start -= 1
        if start == at.start():
            continue
        spans.append(_Span(start, domain.end(), EMAIL_MASK))
    return spans


def _phone_spans(text: str) -> list[_Span]:
    spans = []
    for candidate in _PHONE_CANDIDATE.finditer(text):
        chunk = candidate.group(0)
        if sum(ch.isdigit() for ch in chunk) < _MIN_PHONE_DIGITS or _DATE.fullmatch(chunk):
            continue
        labelled = chunk[0].isdigit() and _labelled_not_phone(text, candidate.start())
        if labelled and len(_DIGIT_GROUPS.findall(chunk)) < 4:
            continue
        for match in phonenumbers.PhoneNumberMatcher(chunk, "NO", leniency=phonenumbers.Leniency.VALID):
            start, end = candidate.start() + match.start, candidate.start() + match.end
            if _DATE.fullmatch(match.raw_string.strip()):
                continue
            prefixed = match.raw_string.lstrip("(").startswith(("+", "00"))
            if not prefixed and _labelled_not_phone(text, start):
                continue
            spans.append(_Span(start, end, PHONE_MASK))
    return spans


def _labelled_not_phone(text: str, start: int) -> bool:
    """True when the words right before `start` say that a number there is not a phone number."""
    return NOT_PHONE_CONTEXT.search(text, max(0, start - 30), start) is not None


def _digits_pattern(phone: str) -> str | None:
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("0047"):
        digits = digits[4:]
    elif digits.startswith("47") and len(digits) == 10:
        digits = digits[2:]
    if len(digits) < 5:
        return None
    return r"(?:(?:\+|00)47[ \u00a0.\-]*)?" + r"[ \u00a0.\-()]*".join(digits) + r"(?!\d)"


def _name_variants(name: str) -> list[str]:
    """A contact's full name, first and last name alone together, and each part that is not a place or a word.

    Nothing for a contact that is a unit rather than a person ("Servicetorget", "Personalavdelingen, Leka kommune").
    """
    words = name.replace(",", " ").split()
    if any(_is_unit_word(word) for word in words):
        return []
    variants = [" ".join(words)]
    if len(words) > 2:
        variants.append(f"{words[0]} {words[-1]}")
    variants += [w for w in words if len(w) > 1 and not _is_common_word(w)]
    return variants


@cache
def _is_common_word(word: str) -> bool:
    lower = word.lower()
    return lower in NOT_NAME_WORDS or word in NOT_NAME_FIRST or is_place_name(word)


def _spaced(words: str) -> str:
    """A regex for `words` with any run of spaces (also no-break) between them."""
    return r"[ \u00a0]+".join(map(re.escape, words.split()))


@cache
def _contact_pattern(names: tuple[str, ...], emails: tuple[str, ...], phones: tuple[str, ...]) -> re.Pattern | None:
    alternatives = [re.escape(email) for email in emails]
    alternatives += [pattern for phone in phones if (pattern := _digits_pattern(phone))]
    variants = sorted({v for name in names for v in _name_variants(name)}, key=len, reverse=True)
    alternatives += [rf"(?<![\w\-]){_spaced(variant)}(?![\w\-])" for variant in variants]
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def _contact_spans(text: str, contacts: Iterable[ContactPerson]) -> list[_Span]:
    contacts = list(contacts)
    pattern = _contact_pattern(
        tuple(c.name.strip() for c in contacts if c.name and c.name.strip()),
        tuple(c.email.strip() for c in contacts if c.email and "@" in c.email),
        tuple(c.phone for c in contacts if c.phone),
    )
    if pattern is None:
        return []
    spans = []
    for match in pattern.finditer(text):
        found = match.group(0)
        mask = EMAIL_MASK if "@" in found else PHONE_MASK if found[-1].isdigit() else NAME_MASK
        spans.append(_Span(match.start(), match.end(), mask))
    return spans


@lru_cache(maxsize=4096)
def _is_name_word(word: str) -> bool:
    """False for a capitalised word that belongs to an employer, unit, place, job or sentence rather than a name."""
    return word not in NOT_NAME_FIRST and not _is_unit_word(word)


@lru_cache(maxsize=4096)
def _is_unit_word(word: str) -> bool:
    """True for a word of an employer, unit, place, job or date ("kommune", "Helsehuset", "Avdelingsleder")."""
    lower = word.lower().rstrip(".")
    if lower in NOT_NAME_WORDS or (len(lower) > 3 and lower.endswith(NOT_NAME_SUFFIXES)):
        return True
    return any(part.lower() in NOT_NAME_WORDS for part in word.split("-"))


def _names_in(text: str, start: int, end: int) -> list[_Span]:
    """Names in text[start:end]: runs of two or more capitalised name words, without a leading place name."""
    spans = []
    for run in _NAME.finditer(text, start, end):
        words: list[list[re.Match[str]]] = [[]]
        tokens = list(_NAME_TOKEN.finditer(text, run.start(), run.end()))
        if sum(_is_name_word(token.group(0)) for token in tokens) > MAX_NAME_WORDS:
            continue
        for token in tokens:
            if _is_name_word(token.group(0)):
                words[-1].append(token)
            elif words[-1]:
                words.append([])
        for tokens in words:
            if len(tokens) > 2 and is_place_name(tokens[0].group(0)):
                tokens = tokens[1:]
            if len(tokens) < 2 or (len(tokens) == 2 and is_place_name(tokens[0].group(0))):
                continue
            first, last = tokens[0].start(), tokens[-1].end()
            if not is_place_name(text[first:last]):
                spans.append(_Span(first, last, NAME_MASK))
    return spans


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of the sentences of text[start:end] (a line may hold several); abbreviations do not end one."""
    pieces = []
    begin = start
    for stop in _SENTENCE_END.finditer(text, start, end):
        if stop.group(0) == "." and _is_abbreviation(text, stop.start()):
            continue
        pieces.append((begin, stop.end()))
        begin = stop.end()
    pieces.append((begin, end))
    return pieces


def _is_abbreviation(text: str, dot: int) -> bool:
    word_start = dot
    while word_start > 0 and text[word_start - 1].isalpha():
        word_start -= 1
    word = text[word_start:dot]
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


def _line_starts(text: str) -> list[int]:
    return [0, *(match.end() for match in _NEWLINE.finditer(text))]


def _phrase_and_block_names(text: str, masked: list[_Span]) -> list[_Span]:
    """Names in sentences about whom to contact, and name lines of contact blocks."""
    lower = lowered(text)
    marks = [span.start for span in masked]
    for trigger in CONTACT_TRIGGERS:
        found = lower.find(trigger)
        while found >= 0:
            if not (trigger[0].isalpha() and found and lower[found - 1].isalpha()):  # "ring", not "erfaring"
                marks.append(found)
            found = lower.find(trigger, found + 1)
    if not marks:
        return []
    marks.sort()
    starts = _line_starts(text)
    ends = [start - 1 for start in starts[1:]] + [len(text)]
    contact_lines = sorted({bisect_right(starts, mark) - 1 for mark in marks})
    filled = [number for number, start in enumerate(starts) if text[start : ends[number]].strip()]
    rank = {number: place for place, number in enumerate(filled)}
    spans: list[_Span] = []
    near = set()
    for number in contact_lines:
        for s_start, s_end in _sentences(text, starts[number], ends[number]):
            first_mark = bisect_left(marks, s_start)
            if first_mark < len(marks) and marks[first_mark] < s_end:
                spans += _names_in(text, s_start, s_end)
        if number in rank:
            place = rank[number]
            near.update(filled[max(0, place - _BLOCK_REACH) : place + _BLOCK_REACH + 1])
    for number in sorted(near.difference(contact_lines)):
        start, end = starts[number], ends[number]
        line = text[start:end].strip(" \t,:;•·-–")
        if line and len(line.split()) <= 6:
            spans += [span for span in _names_in(text, start, end) if _is_leading(text, start, span)]
    return spans


def _is_leading(text: str, line_start: int, span: _Span) -> bool:
    """True when only bullets and spaces come before the span on its line (a block line starting with a name)."""
    return not text[line_start:span.start].strip(" \t•·-–")


def _labelled_first_names(text: str) -> list[_Span]:
    if ":" not in text:
        return []
    return [
        _Span(match.start("name"), match.end("name"), NAME_MASK)
        for match in _LABELLED_FIRST_NAME.finditer(text)
        if _is_name_word(match["name"]) and not is_place_name(match["name"])
    ]


def find_spans(text: str, contacts: Iterable[ContactPerson] = ()) -> list[_Span]:
    """What to mask in `text`, in order, without overlaps (a longer span wins over one it overlaps)."""
    found = _contact_spans(text, contacts) + _email_spans(text)
    found += _phone_spans(text)
    found += _phrase_and_block_names(text, found) + _labelled_first_names(text)
    found.sort(key=lambda span: (span.start, -span.end))
    spans: list[_Span] = []
    for span in found:
        if spans and span.start < spans[-1].end:
            if span.end > spans[-1].end:
                spans[-1] = _Span(spans[-1].start, span.end, spans[-1].mask)
            continue
        spans.append(span)
    return spans


def _apply(text: str, spans: list[_Span]) -> str:
    pieces = []
    done = 0
    for span in spans:
        pieces += [text[done:span.start], span.mask]
        done = span.end
    pieces.append(text[done:])
    return "".join(pieces)


def mask_personal_data(text: str | None, contacts: Iterable[ContactPerson] = ()) -> str:
    """`text` with names of contact persons, phone numbers and e-mail addresses replaced by placeholders."""
    if not text:
        return ""
    spans = find_spans(text, contacts)
    return _apply(text, spans) if spans else text


# -- HTML ------------------------------------------------------------------------------------------------------------

_MARKUP = re.compile(
    r"<(?:!--.*?(?:-->|$)|(?P<raw>script|style)\b.*?(?:</(?P=raw)\s*>|$)|/?(?P<name>[a-zA-Z][a-zA-Z0-9]*)[^>]*>?"
    r"|[!?][^>]*>?)",
    re.IGNORECASE | re.DOTALL,
)
"""A tag, comment, processing instruction, or a script or style element with its content."""
_ENTITY = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);?")
_KEPT_MARKUP = re.compile(r"<!--.*?(?:-->|$)|<[^>]*>?", re.DOTALL)
_LINK = re.compile(r"""(?P<scheme>mailto:|tel:|callto:|sms:)[^"'\s>]*""", re.IGNORECASE)
_LINE_TAGS = BLOCK_TAGS | {"td", "th"}


class _Segment(NamedTuple):
    """A piece of the plain text of an HTML fragment and where it comes from in it (a tuple: many are made)."""

    plain: int
    html: int
    html_end: int
    linear: bool
    """True: plain and HTML characters correspond one to one; False: one entity (or a tag's line break)."""


def _plain_view(fragment: str) -> tuple[str, list[_Segment], list[tuple[int, int]]]:
    """The visible text of an HTML fragment (block tags as line breaks), its segments, and the markup's spans."""
    plain: list[str] = []
    segments: list[_Segment] = []
    markup: list[tuple[int, int]] = []
    size = 0
    done = 0
    for tag in chain(_MARKUP.finditer(fragment), [None]):
        text_end = tag.start() if tag else len(fragment)
        if done < text_end:
            size = _add_text(fragment, done, text_end, size, plain, segments)
        if tag is None:
            break
        markup.append(tag.span())
        done = tag.end()
        name = tag.group("name")
        if name and name.lower() in _LINE_TAGS:
            segments.append(_Segment(size, tag.start(), tag.start(), False))
            plain.append("\n")
            size += 1
    return "".join(plain), segments, markup


def _add_text(fragment: str, start: int, end: int, size: int, plain: list[str], segments: list[_Segment]) -> int:
    """Append the text fragment[start:end] (entities decoded) to the plain view; returns the new plain size."""
    position = start
    if "&" in fragment[start:end]:
        for entity in _ENTITY.finditer(fragment, start, end):
            if entity.start() > position:
                segments.append(_Segment(size, position, entity.start(), True))
                plain.append(fragment[position : entity.start()])
                size += entity.start() - position
            value = html.unescape(entity.group(0))
            segments.append(_Segment(size, entity.start(), entity.end(), False))
            plain.append(value)
            size += len(value)
            position = entity.end()
    if position < end:
        segments.append(_Segment(size, position, end, True))
        plain.append(fragment[position:end])
        size += end - position
    return size


def _html_position(segments: list[_Segment], starts: list[int], index: int, end: bool) -> int:
    segment = segments[bisect_right(starts, index) - 1]
    if segment.linear:
        return segment.html + index - segment.plain + (1 if end else 0)
    return segment.html_end if end else segment.html


def _masked_link(link: re.Match[str]) -> str:
    return link["scheme"] + (EMAIL_MASK if "mail" in link["scheme"].lower() else PHONE_MASK)


def _mask_markup(piece: str, contacts: list[ContactPerson]) -> str:
    """A tag, comment or script with contact links and e-mail addresses masked (attributes, hidden text)."""
    if ":" in piece:
        piece = _LINK.sub(_masked_link, piece)
    if contacts or "@" in piece:
        spans = [s for s in _contact_spans(piece, contacts) + _email_spans(piece) if s.mask != PHONE_MASK]
        spans.sort(key=lambda span: span.start)
        kept: list[_Span] = []
        for span in spans:
            if not kept or span.start >= kept[-1].end:
                kept.append(span)
        piece = _apply(piece, kept)
    return piece


def mask_html(fragment: str | None, contacts: Iterable[ContactPerson] = ()) -> str | None:
    """The HTML fragment with contact persons masked in its visible text and its links; markup kept as it was.

    A name split by inline tags ("<b>Kari</b> Nordmann") is masked whole: the mask takes the place of its first
    character and the tags inside it are kept. Unchanged when there is nothing to mask.
    """
    if not fragment:
        return fragment
    contacts = list(contacts)
    plain, segments, markup = _plain_view(fragment)
    spans = find_spans(plain, contacts)
    starts = [segment.plain for segment in segments]
    edits: list[tuple[int, int, str]] = []
    for span in spans:
        start = _html_position(segments, starts, span.start, end=False)
        end = _html_position(segments, starts, span.end - 1, end=True)
        kept = "".join(_KEPT_MARKUP.findall(fragment, start, end))
        edits.append((start, end, span.mask + kept))
    for start, end in markup:
        piece = fragment[start:end]
        masked = _mask_markup(piece, contacts)
        if masked != piece and not any(s <= start < e for s, e, _ in edits):
            edits.append((start, end, masked))
    if not edits:
        return fragment
    edits.sort()
    pieces = []
    done = 0
    for start, end, replacement in edits:
        if start < done:
            continue
        pieces += [fragment[done:start], replacement]
        done = end
    pieces.append(fragment[done:])
    return "".join(pieces)


# -- the posting -----------------------------------------------------------------------------------------------------


def mask_posting(posting: JobPosting, notes: dict[str, Any]) -> None:
    """Mask contact persons in every text field of `posting` (in place), then forget its contact list.

    A `mailto:` application URL is an e-mail address: it becomes None, and `notes` records why.
    """
    contacts = posting.contacts
    posting.title = mask_personal_data(posting.title, contacts) or None
    posting.job_title = mask_personal_data(posting.job_title, contacts) or None
    if posting.description_html:
        posting.description_html = mask_html(posting.description_html, contacts)
    if posting.description_text:
        posting.description_text = mask_personal_data(posting.description_text, contacts) or None
    if posting.application_url and posting.application_url.strip().lower().startswith("mailto:"):
        posting.application_url = None
        notes["application_url"] = "a mailto: address (personal data) was not stored"
    posting.contacts = []
