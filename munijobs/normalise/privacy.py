"""Masking of e-mail addresses and Norwegian phone numbers in ad text."""

from __future__ import annotations

import re

EMAIL_MASK = "[e-post]"
PHONE_MASK = "[telefon]"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+(?:@|\s?\(at\)\s?|\s?\[at\]\s?)[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_SEP = r"[ \u00a0.-]"
_PHONE = re.compile(
    rf"""(?<![\w+])(?<!\d[\ .,/-])
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
    text = _EMAIL.sub(EMAIL_MASK, text)
    return _PHONE.sub(_mask_phone, text)


def _mask_phone(match: re.Match[str]) -> str:
    if not match.group("prefix") and NOT_PHONE_CONTEXT.search(match.string[max(0, match.start() - 30) : match.start()]):
        return match.group(0)
    return PHONE_MASK
