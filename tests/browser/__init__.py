"""Headless Chromium for layout tests, driven by Selenium through the system's chromedriver.

Selenium rather than hand-written DevTools calls: it is the maintained W3C WebDriver client, talks to Debian's
`chromium-driver` as is, and its `execute_script` is all these tests need to measure boxes in the page. The driver
path is given explicitly, so Selenium Manager never tries to download a browser.

Without chromium, chromedriver or selenium the tests are skipped, loudly; with CI=true or REQUIRE_BROWSER=1 they fail
instead (`.ci/run` installs chromium and chromium-driver from the system's packages).
"""

from __future__ import annotations

import os
import shutil
import warnings

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1280, 1000)


def _missing() -> str | None:
    if not any(shutil.which(name) for name in CHROMIUM_NAMES):
        return "no chromium on PATH"
    if not shutil.which("chromedriver"):
        return "no chromedriver on PATH"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (requirements-dev.txt)"
    return None


def browser_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("REQUIRE_BROWSER") == "1"


def need_browser() -> None:
    """Fail (CI=true or REQUIRE_BROWSER=1) or skip loudly when headless Chromium cannot run here."""
    reason = _missing()
    if reason is None:
        return
    if browser_required():
        pytest.fail(f"browser test cannot run: {reason} (install chromium and chromium-driver)")
    message = f"BROWSER TEST SKIPPED: {reason}; install chromium and chromium-driver, or set REQUIRE_BROWSER=1"
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """A headless Chromium WebDriver session for the whole test run."""
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    binary = next(shutil.which(name) for name in CHROMIUM_NAMES if shutil.which(name))
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-extensions", "--no-first-run", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


LAYOUT_PROBLEMS = r"""
const slack = 0.5, gap = 2, problems = [];
const inside = (r, box) => r.left >= box.left - slack && r.right <= box.right + slack
    && r.top >= box.top - slack && r.bottom <= box.bottom + slack;
const meet = (a, b) => a.left < b.right + gap && b.left < a.right + gap
    && a.top < b.bottom - slack && b.top < a.bottom - slack;
document.querySelectorAll('svg').forEach((svg, n) => {
  const box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()]);
  texts.forEach(([label, r]) => {
    if (r.width === 0) problems.push(`svg ${n}: empty text box for ${label}`);
    if (!inside(r, box)) problems.push(`svg ${n}: "${label}" overflows (${Math.round(r.left)}..${Math.round(r.right)}`
        + ` x ${Math.round(r.top)}..${Math.round(r.bottom)} outside ${Math.round(box.left)}..${Math.round(box.right)}`
        + ` x ${Math.round(box.top)}..${Math.round(box.bottom)})`);
  });
  for (let i = 0; i < texts.length; i++)
    for (let j = i + 1; j < texts.length; j++)
      if (meet(texts[i][1], texts[j][1])) problems.push(`svg ${n}: "${texts[i][0]}" overlaps "${texts[j][0]}"`);
});
document.querySelectorAll('td').forEach(td => {
  const text = td.textContent.trim(), range = document.createRange();
  if (!/^\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?$/.test(text)) return;
  range.selectNodeContents(td);
  if (new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1)
    problems.push(`date "${text}" wraps over lines`);
});
if (document.documentElement.scrollWidth > window.innerWidth)
  problems.push(`page wider than the window: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
return problems;
"""
"""JavaScript returning every layout problem: SVG text outside its SVG, or closer than 2 px to other text on the same
line, a date (or date and time) in a table cell broken over lines, a page wider than the window."""


def svg_text_count(driver) -> int:
    return driver.execute_script("return document.querySelectorAll('svg text').length")
