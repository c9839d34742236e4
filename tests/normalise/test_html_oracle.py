"""html_to_text loses no text and adds none: checked against BeautifulSoup's html.parser, an independent parser.

html_to_text walks lxml's tree for speed; BeautifulSoup (with Python's own html.parser, not libxml2) gives the
text an independent way. Whitespace, bullets and the characters html_to_text removes on purpose are ignored; every
other character must be there, in the same order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from munijobs.normalise import html_to_text
from munijobs.normalise.text import BULLET, DROP_TAGS
from tests.normalise.labelled import load_cases

FILES = Path(__file__).parents[1] / "files"
_IGNORED = re.compile(r"[\s\u200b-\u200d\u2060\ufeff\u00ad\x00-\x1f\x7f]+")


def _html_samples() -> list:
    samples = [(case.id, case.input["html"]) for case in load_cases() if case.rule == "html_text"]
    details = json.loads((FILES / "nav" / "details.json").read_text(encoding="utf-8"))
    samples += [(f"nav-{key}", ad["description"]) for key, ad in details.items() if ad and ad.get("description")]
    samples += [
        ("nested-lists", "<ul><li>En<ul><li>To</li></ul></li><li>Tre<br>fire</li></ul><p>Slutt</p>"),
        ("unclosed", "<p>Første<p>Andre<div>Tredje<li>Fjerde"),
        ("table", "<table><tr><th>Stilling</th><td>80&nbsp;%</td></tr><tr><td>Frist</td><td>1.1.27</td></tr></table>"),
        ("entities", "<p>Bl&aring;b&aelig;r &amp; t&oslash;ys &lt;3 &#8211; &quot;ok&quot;</p>"),
        ("dropped", "<p>Tekst</p><script>var x = '<p>nei</p>';</script><style>p{}</style><noscript>nei</noscript>"),
        ("comment", "<p>A<!-- nei -->B</p><!-- <p>nei</p> -->"),
        ("xml-declaration", "<?xml version='1.0' encoding='iso-8859-1'?><p>Søk nå</p>"),
        ("control-characters", "<p>Linje\x0bmed\x00tegn</p>"),
    ]
    return [pytest.param(fragment, id=name) for name, fragment in samples]


def _reference_text(fragment: str) -> str:
    soup = BeautifulSoup(fragment, "html.parser")
    for element in soup.find_all(DROP_TAGS):
        element.decompose()
    return soup.get_text()


def _significant(text: str) -> str:
    return _IGNORED.sub("", text.replace(BULLET.strip(), ""))


@pytest.mark.filterwarnings("ignore::bs4.XMLParsedAsHTMLWarning")
@pytest.mark.parametrize("fragment", _html_samples())
def test_html_to_text_keeps_exactly_the_text(fragment):
    assert _significant(html_to_text(fragment)) == _significant(_reference_text(fragment))
