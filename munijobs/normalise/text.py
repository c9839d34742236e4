"""Ad text: HTML to clean plain text, and repair of text that a source flattened (glued sentences)."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from lxml import etree


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
LINE = "\x01"
"""Marker of the end of a block line (control characters: not whitespace, and removed from the HTML beforehand)."""
BREAK = "\x02"
"""Marker of a <br>: one is a line break, two or more in a row are a paragraph break."""
PARAGRAPH = "\x03"
"""Marker of the end of a paragraph-like block."""
_MARKS = LINE + BREAK + PARAGRAPH
_MARKS_AROUND = {
    "br": BREAK,
    "td": " ",
    "th": " ",
    **{tag: PARAGRAPH if tag in PARAGRAPH_TAGS else LINE for tag in BLOCK_TAGS if tag != "br"},
}
"""What an element puts before and after its content (li is special: it also gets a bullet)."""
_BREAK_RUN = re.compile(r"[\x01-\x03]+")
_EMPTY_BULLET = re.compile(r"• *\n+")
_HTML_PARSER = etree.HTMLParser(
    encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, default_doctype=False, huge_tree=True
)
"""libxml2's forgiving HTML parser, told the encoding so that a stray `<?xml encoding=...?>` cannot mislead it, and
without its limits on depth and text size (past them it silently stops, and text would be lost)."""
_DROPPED_CONTENT = re.compile(
    rf"<({'|'.join(sorted(DROP_TAGS))})\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL
)
_BLOCK_TAG = re.compile(rf"</?(?:{'|'.join(sorted(BLOCK_TAGS))})\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_BULLET_FORMS = frozenset({"• ", "· ", "▪ ", "◦ "})
"""Bullets that flattened text may start a line with; all become BULLET."""
_OTHER_BULLET = re.compile("^(?:" + "|".join(map(re.escape, sorted(_BULLET_FORMS - {BULLET}))) + ")", re.MULTILINE)
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")

UPPER = "A-ZÆØÅÄÖÜÉÈÁ"
LOWER = "a-zæøåäöüéèáóúíß"
_LOWER_THEN_CAPITALISED = re.compile(rf"(?<=[{LOWER}])(?=[{UPPER}](?:[{LOWER}]|$))")
_PUNCT_THEN_CAPITALISED = re.compile(rf"(?<=[{LOWER}0-9)][.!?:;,])(?=[{UPPER}][{LOWER}])")
_UNSAFE_TOKEN = re.compile(r"@|://|www\.|\.(?:no|com|net|org|html?|pdf)\b", re.IGNORECASE)
_GLUE_POINT = re.compile(rf"[{UPPER}](?:(?<=[{LOWER}].)|(?<=[{LOWER}0-9)][.!?:;,].)(?=[{LOWER}]))")
"""A capital glued to the lower-case letter or the punctuation before it (matched from the capital: fast to scan)."""

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
    """Clean plain text of an HTML fragment: blocks become lines, list items keep a bullet, noise dropped.

    Parsed with lxml (libxml2's HTML parser, the same one BeautifulSoup's "lxml" mode drives) and walked directly:
    building a BeautifulSoup tree cost about 25 times as much as the parse and most of the normaliser's time.
    """
    if not fragment or not fragment.strip():
        return ""
    root = etree.fromstring(_CONTROL.sub(" ", fragment).encode("utf-8"), _HTML_PARSER)
    if any(error.level == etree.ErrorLevels.FATAL for error in _HTML_PARSER.error_log):
        return _tidy(_text_without_tags(fragment))
    if root is None:
        return ""
    parts: list[str] = []
    _walk(root, parts)
    text = " ".join(_ZERO_WIDTH.sub("", "".join(parts)).split())
    for mark in (LINE, BREAK, PARAGRAPH):
        text = text.replace(" " + mark, mark).replace(mark + " ", mark)
    text = _EMPTY_BULLET.sub(BULLET, _BREAK_RUN.sub(_break_run_to_newlines, text))
    return _OTHER_BULLET.sub(BULLET, text).strip()


def _break_run_to_newlines(run: re.Match[str]) -> str:
    marks = run.group(0)
    return "\n\n" if PARAGRAPH in marks or marks.count(BREAK) > 1 else "\n"


def _walk(root: etree._Element, parts: list[str]) -> None:
    """Append the text under `root` to `parts`, with a marker where a block starts or ends.

    Walked with lxml's iterwalk rather than recursion, so that no nesting depth is too deep.
    """
    walker = etree.iterwalk(root, events=("start", "end"))
    item_starts: list[int] = []
    for event, element in walker:
        name = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if name in DROP_TAGS or not name:
                walker.skip_subtree()
                continue
            if name == "li":
                item_starts.append(len(parts))
                parts.append(LINE + BULLET)
            else:
                parts.append(_MARKS_AROUND.get(name, ""))
            if element.text:
                parts.append(element.text)
            continue
        if name == "li":
            start = item_starts.pop()
            if _is_blank(parts[start + 1 :]):
                del parts[start:]
            parts.append(LINE)
        elif name and name not in DROP_TAGS and name != "br":
            parts.append(_MARKS_AROUND.get(name, ""))
        if element.tail:
            parts.append(element.tail)


def _text_without_tags(fragment: str) -> str:
    """The text of HTML that libxml2 gave up on (nested thousands deep): tags dropped, blocks as lines, none lost."""
    text = _DROPPED_CONTENT.sub(" ", fragment)
    text = _BLOCK_TAG.sub("\n", text)
    return html.unescape(_ANY_TAG.sub("", text))


def _is_blank(parts: list[str]) -> bool:
    """True when `parts` hold no visible character (an empty list item, which gets no bullet)."""
    return not _ZERO_WIDTH.sub("", "".join(parts)).strip(_MARKS).strip()


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


@lru_cache(maxsize=8)
def lowered(text: str) -> str:
    """`text` in lower case, character for character (same length, so positions match); cached, as every rule asks."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(char if len(char.lower()) != 1 else char.lower() for char in text)


@lru_cache(maxsize=64)
def hint_spans(text: str, hints: tuple[str, ...], reach: int = 0) -> tuple[tuple[int, int], ...]:
    """(start, end) of the lines of `text` that contain one of `hints` (lower case; any case in the text), in order.

    With `reach`, a span goes on to the end of the line `reach` characters further (for a label whose value may
    follow on the next line). Overlapping spans are merged. Cached: several rules ask for the same lines.
    """
    lower = lowered(text)
    spans: list[tuple[int, int]] = []
    for hint in hints:
        found = lower.find(hint)
        while found >= 0:
            start = lower.rfind("\n", 0, found) + 1
            end = lower.find("\n", min(len(lower), found + reach))
            end = len(lower) if end < 0 else end
            spans.append((start, end))
            found = lower.find(hint, end)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def lines_containing(text: str, hints: tuple[str, ...]) -> list[str]:
    """The distinct lines of `text` that contain one of `hints` (lower case; any case in the text), in text order.

    A line repeated later in the text (boilerplate pasted twice) is given once: the rules would only find it again.
    """
    return list(dict.fromkeys(text[start:end] for start, end in hint_spans(text, hints)))
