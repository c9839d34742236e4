"""A local HTTP server playing NAV's pam-stilling-feed and the Brønnøysund register, for tests, demos and the bench.

The feed follows NAV's page mechanics (FeedService.hentFeedHvis): page P lists entry P and the following entries up
to pageSize, `next_id` is the last entry on the page (so pages overlap by one entry), and at the tip (at most one newer
entry) `next_id` is null. `visible` limits the change log, so a test can grow the tip between two runs.

Run standalone with the bundled fixtures (tests/files/nav/):  python -m tests.fakes.nav_server --port 8765
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "files" / "nav"
PAGE_ID_NAMESPACE = uuid.UUID("6f0d7a52-5a3e-4c8e-9d0b-2f1c3b4a5d6e")
BRREG_PREFIX = "/enhetsregisteret/api"
PUBLIC_TOKEN = "eyJmYWtlIjoicHVibGljIn0.cHVibGlj.dG9rZW4"
DELETE = object()
"""In an override: remove the key instead of replacing its value."""


def _overridden(data: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    if not overrides:
        return data
    result = {**data, **overrides}
    return {key: value for key, value in result.items() if value is not DELETE}


@dataclass
class Fault:
    """Answer the first `times` requests whose path matches `path` (a regex) with this instead of the real answer."""

    path: str
    status: int = 500
    times: int = 1
    body: bytes = b'{"error": "fake fault"}'
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    """Seconds to wait before answering (a stalled server)."""


@dataclass
class Scenario:
    """What the fake server knows: the change log, ad contents per version and Brønnøysund units."""

    entries: list[dict[str, Any]]
    """Feed entries in change-log order: uuid, status, title, businessName, municipal, sistEndret."""
    details: dict[str, dict[str, dict[str, Any] | None]]
    """Ad content by ad uuid and sistEndret; an ad without versions answers 404."""
    subunits: dict[str, dict[str, Any]] = field(default_factory=dict)
    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    page_size: int = 1000
    visible: int | None = None
    """Number of change-log entries published so far (None: all)."""
    tokens: set[str] = field(default_factory=lambda: {PUBLIC_TOKEN})
    """Bearer tokens the feed accepts."""
    public_token: str = PUBLIC_TOKEN
    """What /api/publicToken hands out."""
    faults: list[Fault] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    """Brønnøysund numbers answered with 410 (deleted)."""
    entry_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Fault mode: keys of `_feed_entry` replaced per ad uuid on every feed page (a value of DELETE removes the key)."""
    detail_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Fault mode: top-level keys of a feedentry answer replaced per ad uuid (DELETE removes the key)."""
    next_id_overrides: dict[str, str] = field(default_factory=dict)
    """Fault mode: `next_id` of a page (by page id) replaced, e.g. to point back to an earlier page (a loop)."""
    detail_delay: float = 0.0
    """Seconds every feedentry (detail) answer waits, like NAV's detail calls of 13-30 s (the feed pages do not)."""

    @classmethod
    def from_files(cls, directory: Path = FIXTURES, **overrides: Any) -> Scenario:
        """The scenario written in feed.json, details.json and brreg.json."""
        feed = json.loads((directory / "feed.json").read_text(encoding="utf-8"))
        brreg = json.loads((directory / "brreg.json").read_text(encoding="utf-8"))
        return cls(
            entries=feed["entries"],
            details=json.loads((directory / "details.json").read_text(encoding="utf-8")),
            subunits=brreg["underenheter"],
            units=brreg["enheter"],
            **overrides,
        )


def page_item_id(seq: int) -> str:
    """Id of the feed-page item at position `seq` of the change log (stable across runs)."""
    return str(uuid.uuid5(PAGE_ID_NAMESPACE, str(seq)))


class FakeNav:
    """The server state: the scenario, the request log and the HTTP server thread."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", port: int = 0) -> None:
        self.scenario = scenario
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.log: list[tuple[float, str, dict[str, str]]] = []
        self._indexed_length = -1
        self._page_index: dict[str, int] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def brreg_url(self) -> str:
        return self.base_url + BRREG_PREFIX

    def start(self) -> FakeNav:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeNav:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def page_id_of(self, seq: int) -> str:
        return page_item_id(seq)

    def requests_to(self, prefix: str) -> list[tuple[float, str, dict[str, str]]]:
        """Logged requests whose path starts with `prefix`."""
        with self.lock:
            return [entry for entry in self.log if entry[1].startswith(prefix)]

    def reset_counts(self) -> None:
        with self.lock:
            self.hits.clear()
            self.log.clear()

    # -- answers -----------------------------------------------------------------------------------------------

    def _visible(self) -> list[dict[str, Any]]:
        entries = self.scenario.entries
        return entries if self.scenario.visible is None else entries[: self.scenario.visible]

    def _indexes(self) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
        """Position of each page id and the latest visible entry of each ad, rebuilt when the log grows."""
        entries = self._visible()
        with self.lock:
            if self._indexed_length != len(entries):
                self._page_index = {page_item_id(seq): seq for seq in range(len(entries))}
                self._latest = {entry["uuid"]: entry for entry in entries}
                self._indexed_length = len(entries)
            return self._page_index, self._latest

    def _fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.scenario.faults:
                if fault.times > 0 and re.search(fault.path, path):
                    fault.times -= 1
                    return fault
        return None

    def _record(self, target: str, headers: dict[str, str]) -> tuple[int, dict, bytes] | None:
        """Count and log a request; the answer of a fault set for it (after its stall), else None."""
        with self.lock:
            self.hits[target] += 1
            self.log.append((time.monotonic(), target, headers))
        fault = self._fault(target)
        if fault is None:
            return None
        if fault.stall:
            time.sleep(fault.stall)
        return fault.status, fault.headers, fault.body

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, dict, bytes]:
        """Status, headers and body for a GET. Paths may also be prefixed with /nav (feed) or /brreg (register)."""
        if path.startswith("/nav/"):
            path = path.removeprefix("/nav")
        elif path.startswith("/brreg/"):
            path = BRREG_PREFIX + path.removeprefix("/brreg")
        faulty = self._record(path, headers)
        if faulty is not None:
            return faulty
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow:\n"
        if path == "/api/publicToken":
            text = f"Current public token for Nav Job Vacancy Feed:\n{self.scenario.public_token}\n"
            return 200, {"Content-Type": "text/plain"}, text.encode()
        if path in (BRREG_PREFIX, BRREG_PREFIX + "/"):
            links = {kind: {"href": f"{BRREG_PREFIX}/{kind}"} for kind in ("enheter", "underenheter")}
            return 200, {"Content-Type": "application/json"}, json.dumps({"_links": links}).encode()
        if path.startswith(BRREG_PREFIX + "/"):
            return self._brreg(path.removeprefix(BRREG_PREFIX + "/"))
        if path.startswith("/api/v1/"):
            if self.scenario.detail_delay and path.startswith("/api/v1/feedentry/"):
                time.sleep(self.scenario.detail_delay)
            token = headers.get("authorization", "").partition(" ")[2]
            if token not in self.scenario.tokens:
                return 401, {"Content-Type": "text/plain"}, b"Unauthorized"
            if path == "/api/v1/feed" or path.startswith("/api/v1/feed/"):
                return self._feed(path.removeprefix("/api/v1/feed").strip("/"), query, headers)
            if path.startswith("/api/v1/feedentry/"):
                return self._detail(path.removeprefix("/api/v1/feedentry/"))
        return 404, {"Content-Type": "text/plain"}, b"Not found"

    def _feed(self, page_id: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, dict, bytes]:
        entries = self._visible()
        size = min(int(query.get("pageSize", [self.scenario.page_size])[0]), 10000)
        if page_id:
            first = self._indexes()[0].get(page_id, -1)
            if first < 0:
                return 404, {"Content-Type": "text/plain"}, b"No such page"
        elif "last" in query:
            first = max(len(entries) - 1, 0)
        else:
            first = 0
            since = headers.get("if-modified-since")
            if since:
                moment = parsedate_to_datetime(since)
                later = [i for i, e in enumerate(entries) if datetime.fromisoformat(e["sistEndret"]) > moment]
                first = later[0] if later else max(len(entries) - 1, 0)
        if not entries:
            return 404, {"Content-Type": "text/plain"}, b"Empty feed"
        following = list(range(first + 1, min(first + 1 + size, len(entries))))
        if len(following) > 1:
            on_page, next_seq = [first, *following[:-1]], following[-2]
        else:
            on_page, next_seq = [first, *following], None
        next_id = page_item_id(next_seq) if next_seq is not None else None
        next_id = self.scenario.next_id_overrides.get(page_item_id(first), next_id)
        body = {
            "version": "1.0",
            "title": "Stillingsfeeden fra arbeidsplassen.no (fake)",
            "home_page_url": "https://arbeidsplassen.nav.no",
            "feed_url": f"/api/v1/feed/{page_item_id(first)}",
            "description": "Fake feed for munijobs tests",
            "next_url": f"/api/v1/feed/{next_id}" if next_id else None,
            "id": page_item_id(first),
            "next_id": next_id,
            "items": [_feed_line(entries[seq], self.scenario.entry_overrides.get(entries[seq]["uuid"]))
                      for seq in on_page],
        }
        last = entries[on_page[-1]]
        headers_out = {"Content-Type": "application/json", "ETag": page_item_id(on_page[-1])}
        headers_out["Last-Modified"] = last["sistEndret"]
        return 200, headers_out, json.dumps(body).encode()

    def _detail(self, ad_uuid: str) -> tuple[int, dict, bytes]:
        latest = self._indexes()[1].get(ad_uuid)
        versions = self.scenario.details.get(ad_uuid)
        if latest is None or not versions:
            return 404, {"Content-Type": "text/plain"}, b"Not found"
        body: dict[str, Any] = {"uuid": ad_uuid, "status": latest["status"], "sistEndret": latest["sistEndret"]}
        if latest["status"] == "ACTIVE":
            known = [stamp for stamp in versions if stamp <= latest["sistEndret"]] or list(versions)
            body["ad_content"] = versions[max(known)]
        body = _overridden(body, self.scenario.detail_overrides.get(ad_uuid))
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _brreg(self, path: str) -> tuple[int, dict, bytes]:
        kind, _, orgnr = path.partition("/")
        if orgnr in self.scenario.gone:
            return 410, {"Content-Type": "application/json"}, b'{"slettedato": "2024-01-01"}'
        table = {"underenheter": self.scenario.subunits, "enheter": self.scenario.units}.get(kind, {})
        if orgnr not in table:
            return 404, {"Content-Type": "application/json"}, b'{"feilmelding": "Ingen enhet funnet"}'
        return 200, {"Content-Type": "application/json"}, json.dumps(table[orgnr]).encode()


def _feed_line(entry: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": entry["uuid"],
        "url": f"/api/v1/feedentry/{entry['uuid']}",
        "title": entry.get("title", "?"),
        "content_text": "Stillingsannonse",
        "date_modified": entry["sistEndret"],
        "_feed_entry": _overridden({
            "uuid": entry["uuid"],
            "status": entry["status"],
            "title": entry.get("title", "?"),
            "businessName": entry.get("businessName", "?"),
            "municipal": entry.get("municipal", "?"),
            "sistEndret": entry["sistEndret"],
        }, overrides),
    }


def _handler_for(fake: FakeNav) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, headers_out, body = fake.answer(parts.path, parse_qs(parts.query, keep_blank_values=True), headers)
            try:
                self.send_response(status)
                for key, value in headers_out.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except ConnectionError:  # the client gave up waiting (a stopped crawl abandons slow details)
                self.close_connection = True

        def log_message(self, *_: Any) -> None:
            """Quiet: the request log is in FakeNav.log."""

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bundled NAV feed and Brønnøysund fixtures locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--page-size", type=int, default=4)
    parser.add_argument("--detail-delay-ms", type=int, default=0, help="answer every detail this many ms late")
    args = parser.parse_args()
    scenario = Scenario.from_files(page_size=args.page_size, detail_delay=args.detail_delay_ms / 1000)
    fake = FakeNav(scenario, args.host, args.port)
    print(f"NAV_FEED_URL={fake.base_url} NAV_FEED_LOOKBACK_DAYS=36500 BRREG_API_URL={fake.brreg_url}", flush=True)
    try:
        fake.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.httpd.server_close()


if __name__ == "__main__":
    main()
