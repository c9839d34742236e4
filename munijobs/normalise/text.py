"""Ad text: HTML to clean plain text, and repair of text that a source flattened (glued sentences)."""

from __future__ import annotations

import html
import re

from bs4 import BeautifulSoup, NavigableString, Tag


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of `words` as a set (for long word lists kept readable)."""
    return frozenset(words.split())


BLOCK_TAGS = word_set(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table section article header footer blockquote dd dt dl hr "
    "pre address figure figcaption"
)
DROP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "iframe", "svg", "object"})
PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre"})
"""Blocks followed by a blank line; other blocks only end the line."""
BULLET = "• "
LINE = "\ue000"
"""Marker of the end of a block line (private-use characters: not whitespace, never in ad text)."""
BREAK = "\ue001"
"""Marker of a <br>: one is a line break, two or more in a row are a paragraph break."""
PARAGRAPH = "\ue002"
"""Marker of the end of a paragraph-like block."""
_BREAK_RUN = re.compile(r"[\ue000-\ue002]+")
_EMPTY_BULLET = re.compile(r"• *\n+")
_CELL_TAGS = ("td", "th")

_BULLET_FORMS = frozenset({"• ", "· ", "▪ ", "◦ "})
"""Bullets that flattened text may start a line with; all become BULLET."""
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")

UPPER = "A-ZÆØÅÄÖÜÉÈÁ"
LOWER = "a-zæøåäöüéèáóúíß"
_LOWER_THEN_CAPITALISED = re.compile(rf"(?<=[{LOWER}])(?=[{UPPER}](?:[{LOWER}]|$))")
_PUNCT_THEN_CAPITALISED = re.compile(rf"(?<=[{LOWER}0-9)][.!?:;,])(?=[{UPPER}][{LOWER}])")
_UNSAFE_TOKEN = re.compile(r"@|://|www\.|\.(?:no|com|net|org|html?|pdf)\b", re.IGNORECASE)
_GLUE_POINT = re.compile(rf"[{LOWER}][{UPPER}]|[{LOWER}0-9)][.!?:;,][{UPPER}][{LOWER}]")

GLUE_PREFIXES = ("Mc", "Mac", "De", "Van", "La", "Le", "O'", "D'")
"""Capitalised name prefixes that are written glued to a capitalised name (McDonald, MacLeod, DeVito)."""

MIXED_CASE_WORDS = word_set(
    "PowerPoint SharePoint YouTube LinkedIn JavaScript TypeScript GitHub GitLab WordPress PowerShell "
    "PowerApps PowerBI OneDrive OneNote DevOps FileMaker AutoCAD SketchUp InDesign QlikView PostgreSQL "
    "MySQL ArcGIS QGIS WhatsApp FaceTime FaceBook TikTok SnapChat PlayStation MasterCard BankID ePhorte "
    "WebCruiter JobbNorge HelseCV VisBook SuccessFactors ServiceNow TopDesk StatsBygg NorSIS KommIT "
    "HelsaMi VismaFlyt MinSide GoodTeams TeamViewer DocuLive CosDoc SymfoniPlan ProCare HelseNorge "
    "KlikkFri DigiDel"
)
"""Mixed-case product and brand names that must never be split (checked case-sensitively)."""

SENTENCE_STARTERS = word_set(
    "Vi Du De Det Den Dei Dette Denne Han Hun Ho Hver Kvar Her Hos Som Og Men Et Eit En Ein Ei Er Om Ved "
    "For Med Til Etter Alle Stillingen Stillinga Søknad Søknaden Kommunen Enheten Avdelingen Vår Våre "
    "Vårt Me Oss Ta Les Se Sjå Send Søk Kontakt Mer Meir I På Fra Frå Arbeidsoppgaver Kvalifikasjoner "
    "Personlige Ønskelig Krav Lønn Løn Oppstart Tiltredelse Søknadsfrist Å We You The Our This As"
)
"""Words that start a sentence often; a capitalised word glued to one of these is split even after a capital."""


def html_to_text(fragment: str | None) -> str:
    """Clean plain text of an HTML fragment: blocks become lines, list items keep a bullet, noise dropped."""
    if not fragment or not fragment.strip():
        return ""
    soup = BeautifulSoup(fragment, "lxml")
    parts: list[str] = []
    _walk(soup, parts)
    text = " ".join("".join(parts).split())
    for mark in (LINE, BREAK, PARAGRAPH):
        text = text.replace(" " + mark, mark).replace(mark + " ", mark)
    text = _BREAK_RUN.sub(_break_run_to_newlines, text)
    return _tidy(_EMPTY_BULLET.sub(BULLET, text))


def _break_run_to_newlines(run: re.Match[str]) -> str:
    marks = run.group(0)
    return "\n\n" if PARAGRAPH in marks or marks.count(BREAK) > 1 else "\n"


def _walk(node: Tag, parts: list[str]) -> None:
    for child in node.children:
        if not isinstance(child, Tag):
            if type(child) is NavigableString:
                parts.append(child)
        elif child.name in DROP_TAGS:
            continue
        elif child.name == "br":
            parts.append(BREAK)
        elif child.name == "li":
            parts.append(LINE + BULLET)
            _walk(child, parts)
            parts.append(LINE)
        elif child.name in _CELL_TAGS:
            parts.append(" ")
            _walk(child, parts)
            parts.append(" ")
        elif child.name in BLOCK_TAGS:
            mark = PARAGRAPH if child.name in PARAGRAPH_TAGS else LINE
            parts.append(mark)
            _walk(child, parts)
            parts.append(mark)
        else:
            _walk(child, parts)


def clean_text(text: str | None) -> str:
    """Decode entities, collapse spaces inside lines, keep at most one blank line between blocks."""
    if not text:
        return ""
    return _tidy(html.unescape(text) if "&" in text else text)


def _tidy(text: str) -> str:
    lines: list[str] = []
    for raw_line in _ZERO_WIDTH.sub("", text).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = " ".join(raw_line.split())
        if line[:2] in _BULLET_FORMS:
            line = BULLET + line[2:]
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()


def repair_glued_text(text: str | None) -> str:
    """Separate sentences that a source glued together ("kommunikasjonVi arbeider" -> "kommunikasjon. Vi arbeider").

    Brand names (PowerPoint), prefixed names (McDonald), one-letter prefixes (iPad, eHelse), hyphenated compounds
    (NAV-kontoret), e-mail addresses and web addresses are left alone. Words glued in lower case are not split.
    """
    if not text:
        return ""
    pieces: list[str] = []
    done = 0
    for glue in _GLUE_POINT.finditer(text):
        if glue.start() < done:
            continue
        start = max(text.rfind(" ", 0, glue.start()), text.rfind("\n", 0, glue.start())) + 1
        end = len(text)
        for separator in (" ", "\n"):
            found = text.find(separator, glue.end())
            end = found if 0 <= found < end else end
        pieces.append(text[done:start])
        pieces.append(_repair_token(text[start:end]))
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _repair_token(token: str) -> str:
    if _UNSAFE_TOKEN.search(token):
        return token
    token = _PUNCT_THEN_CAPITALISED.sub(" ", token)
    if not _LOWER_THEN_CAPITALISED.search(token):
        return token
    protected = _protected_spans(token)
    return _LOWER_THEN_CAPITALISED.sub(lambda glue: _separator(token, glue.start(), protected), token)


def _protected_spans(token: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for word in MIXED_CASE_WORDS if word in token for m in re.finditer(word, token)]


def _separator(token: str, position: int, protected: list[tuple[int, int]]) -> str:
    if any(start < position < end for start, end in protected):
        return ""
    start = position
    while start > 0 and token[start - 1].isalpha():
        start -= 1
    end = position + 1
    while end < len(token) and token[end].islower():
        end += 1
    left, right = token[start:position], token[position:end]
    if len(left) <= 1 or left in GLUE_PREFIXES:
        return ""
    if (not left.islower() or len(left) < 5 or len(right) == 1) and right not in SENTENCE_STARTERS:
        return ""
    return ". "


def lines_containing(text: str, hints: tuple[str, ...]) -> list[str]:
    """The lines of `text` that contain one of `hints` (lower case; any case in the text), in text order."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = text
    spans: set[tuple[int, int]] = set()
    for hint in hints:
        found = lowered.find(hint)
        while found >= 0:
            start = lowered.rfind("\n", 0, found) + 1
            end = lowered.find("\n", found)
            end = len(lowered) if end < 0 else end
            spans.add((start, end))
            found = lowered.find(hint, end)
    return [text[start:end] for start, end in sorted(spans)]
