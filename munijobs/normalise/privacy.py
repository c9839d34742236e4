"""Masking of e-mail addresses and Norwegian phone numbers in ad text."""

from __future__ import annotations

import re

EMAIL_MASK = "[e-post]"
PHONE_MASK = "[telefon]"

_DOMAIN = r"[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b"
_AT_DOMAIN = re.compile(rf"@{_DOMAIN}", re.IGNORECASE)
"""The "@domain" half of an e-mail address; the local part is found by walking back from it (fast on long text)."""
_SPELLED_AT = re.compile(rf"(?<=\w) ?[(\[]at[)\]] ?(?={_DOMAIN})", re.IGNORECASE)
"""An "@" written as "(at)" or "[at]" between the two halves of an address."""
_SEP = r"[ \u00a0.-]"
_PHONE = re.compile(
    rf"""(?=[0-9+(])(?<![\w+])(?<!\d[\ .,/-])
    (?P<prefix>(?:\(?(?:\+|00)47\)?{_SEP}?))?
    (?P<number>[2-9]\d{{7}}
      |[2-9]\d{_SEP}\d\d{_SEP}\d\d{_SEP}\d\d
      |[2-9]\d\d{_SEP}\d\d{_SEP}\d\d\d)
    (?!\w|[.,/-]\d|\ \d)""",
    re.VERBOSE,
)
NOT_PHONE_CONTEXT = re.compile(
    r"(?:org(?:anisasjons)?\.?\s*-?\s*n(?:umme)?r|konto(?:nummer|nr)?|ref(?:eranse)?(?:nr|nummer)?|saks?(?:nr|nummer)"
    r"|arkiv(?:sak)?|stillings?(?:nr|nummer|id)|annonse(?:nr|id)|id|kr|nok)\.?\s*:?\s*$",
    re.IGNORECASE,
)
"""Words that, right before a number, say it is an org number, account, reference or amount."""


def mask_personal_data(text: str | None) -> str:
    """Replace e-mail addresses and Norwegian 8-digit phone numbers in `text` by placeholders."""
    if not text:
        return ""
    if "at)" in text or "at]" in text:
        text = _SPELLED_AT.sub("@", text)
    if "@" in text:
        text = _mask_emails(text)
    return _PHONE.sub(_mask_phone, text)


def _mask_emails(text: str) -> str:
    pieces: list[str] = []
    done = 0
    for domain in _AT_DOMAIN.finditer(text):
        start = domain.start()
        while start > done and (text[start - 1].isalnum() or text[start - 1] in "._+-"):
            start -= 1
        if start == domain.start():
            continue
        pieces += [text[done:start], EMAIL_MASK]
        done = domain.end()
    pieces.append(text[done:])
    return "".join(pieces)


def _mask_phone(match: re.Match[str]) -> str:
    if not match.group("prefix") and NOT_PHONE_CONTEXT.search(match.string[max(0, match.start() - 30) : match.start()]):
        return match.group(0)
    return PHONE_MASK
