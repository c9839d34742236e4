"""A local HTTP server playing both Jobbnorge hosts and the Brønnøysund register, for tests, demos and the bench.

One server stands in for publicapi.jobbnorge.no (`/v3/jobs?language=1`), id.jobbnorge.no
(`/api/joblisting?jobId=N&languageId=1`) and www.jobbnorge.no (robots.txt disallowing the PDF route, which answers
but must never be asked), plus Brønnøysund: `/enhetsregisteret/api/enheter?navn=...` (a word search over the units'
names) and the unit routes, with the units of tests/files/nav/brreg.json and tests/files/jobbnorge/brreg.json.

`day` picks which list the server publishes (tests/files/jobbnorge/jobs.json); faults (500, 429 with Retry-After,
stalls) are nav_server's `Fault`, matched against the path and query; `truncate_list` cuts the list body in half
(a complete HTTP answer with broken JSON); `total` overrides meta.jobCountTotal.

Run standalone (the demo):  python -m tests.fakes.jobbnorge_server --port 8766 [--nav-port 8765]
With --nav-port it also serves the NAV feed fixtures, plus the demo-only NAV ads of tests/files/jobbnorge/
nav_demo.json, on that port, so one process serves the whole demo.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.fakes.nav_server import BRREG_PREFIX, FakeNav, Fault
from tests.fakes.nav_server import FIXTURES as NAV_FIXTURES
from tests.fakes.nav_server import Scenario as NavScenario

FIXTURES = Path(__file__).resolve().parents[1] / "files" / "jobbnorge"
ROBOTS = b"User-agent: *\nDisallow: /ledige-stillinger/joblisting/pdf/*\n"
PDF_ROUTE = "/ledige-stillinger/joblisting/pdf/"


@dataclass
class Scenario:
    """What the fake knows: list records, the ids each day lists, details and Brønnøysund units."""

    records: dict[str, dict[str, Any]]
    days: dict[str, list[int]]
    details: dict[str, dict[str, Any]]
    units: dict[str, dict[str, Any]]
    subunits: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Underenheter (the NAV fixtures' establishments), so that the NAV spider can use this register too."""
    record_changes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Field overrides of records by day (from that day on, for numeric days)."""
    detail_changes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    day: str = "1"
    faults: list[Fault] = field(default_factory=list)
    truncate_list: bool = False
    total: int | None = None
    """meta.jobCountTotal to announce instead of the true count (None: the true count)."""

    @classmethod
    def from_files(cls, directory: Path = FIXTURES, **overrides: Any) -> Scenario:
        jobs = json.loads((directory / "jobs.json").read_text(encoding="utf-8"))
        details = json.loads((directory / "details.json").read_text(encoding="utf-8"))
        nav_brreg = json.loads((NAV_FIXTURES / "brreg.json").read_text(encoding="utf-8"))
        units = nav_brreg["enheter"] | json.loads((directory / "brreg.json").read_text(encoding="utf-8"))["enheter"]
        return cls(records=jobs["records"], days=jobs["days"], record_changes=jobs.get("changes", {}),
                   details=details["details"], detail_changes=details.get("changes", {}), units=units,
                   subunits=nav_brreg["underenheter"], **overrides)

    def _changed(self, changes: dict[str, dict[str, dict[str, Any]]], job_id: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for day, by_id in sorted(changes.items()):
            if job_id in by_id and (day == self.day or (day.isdigit() and self.day.isdigit() and day <= self.day)):
                merged |= by_id[job_id]
        return merged

    def listed(self) -> list[dict[str, Any]]:
        """Today's list records."""
        return [self.records[str(i)] | self._changed(self.record_changes, str(i)) for i in self.days[self.day]]

    def detail(self, job_id: str) -> dict[str, Any] | None:
        changed = self._changed(self.detail_changes, job_id)
        return changed or self.details.get(job_id)


class FakeJobbnorge(FakeNav):
    """The server state, the request log (paths with their query) and the HTTP server thread, as FakeNav's."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(scenario, host, port)  # only answer() reads the scenario, and it is overridden here
        self.scenario: Scenario = scenario

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, dict, bytes]:
        """Status, headers and body for a GET."""
        target = path + ("?" + urlencode({k: v[0] for k, v in query.items()}) if query else "")
        faulty = self._record(target, headers)
        if faulty is not None:
            return faulty
        json_type = {"Content-Type": "application/json; charset=utf-8"}
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, ROBOTS
        if path.startswith(PDF_ROUTE):
            return 200, {"Content-Type": "text/html"}, b"<html>PDF as HTML</html>"
        if path.lower() == "/v3/jobs":
            if query.get("language") != ["1"]:
                return 400, json_type, b'{"error": "language required"}'
            return 200, json_type, self._list()
        if path == "/api/joblisting":
            detail = self.scenario.detail(query.get("jobId", [""])[0])
            if detail is None or query.get("languageId") != ["1"]:
                return 404, json_type, b'{"message": "Not found"}'
            return 200, json_type, json.dumps(detail, ensure_ascii=False).encode()
        if path == BRREG_PREFIX + "/enheter":
            return 200, json_type, self._search(query.get("navn", [""])[0])
        if path.startswith(BRREG_PREFIX + "/"):
            kind, _, orgnr = path.removeprefix(BRREG_PREFIX + "/").partition("/")
            unit = {"enheter": self.scenario.units, "underenheter": self.scenario.subunits}.get(kind, {}).get(orgnr)
            if unit is None:
                return 404, json_type, b'{"feilmelding": "Ingen enhet funnet"}'
            return 200, json_type, json.dumps(unit, ensure_ascii=False).encode()
        return 404, {"Content-Type": "text/plain"}, b"Not found"

    def _list(self) -> bytes:
        jobs = self.scenario.listed()
        employers = {job["employer"] for job in jobs}
        meta = {"jobCountTotal": len(jobs) if self.scenario.total is None else self.scenario.total,
                "employerCountTotal": len(employers)}
        body = json.dumps({"jobs": jobs, "meta": meta}, ensure_ascii=False).encode()
        return body[: len(body) // 2] if self.scenario.truncate_list else body

    def _search(self, name: str) -> bytes:
        words = set(re.findall(r"\w+", name.lower()))
        found = [unit for unit in self.scenario.units.values()
                 if words and words <= set(re.findall(r"\w+", unit["navn"].lower()))]
        body: dict[str, Any] = {"page": {"size": 20, "totalElements": len(found), "totalPages": 1, "number": 0}}
        if found:
            body["_embedded"] = {"enheter": found[:20]}
        return json.dumps(body, ensure_ascii=False).encode()


def demo_nav_scenario(page_size: int = 4) -> NavScenario:
    """NAV's fixtures plus the demo-only NAV ads (one pushed from Jobbnorge, a NAV×NAV duplicate)."""
    scenario = NavScenario.from_files(page_size=page_size)
    demo = json.loads((FIXTURES / "nav_demo.json").read_text(encoding="utf-8"))
    scenario.entries = scenario.entries + demo["entries"]
    scenario.details = scenario.details | demo["details"]
    return scenario


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bundled Jobbnorge and Brønnøysund fixtures locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--day", default="1", help="which day's list to publish (see tests/files/jobbnorge/jobs.json)")
    parser.add_argument("--nav-port", type=int, help="also serve the NAV feed fixtures (with the demo ads) here")
    args = parser.parse_args()
    fake = FakeJobbnorge(Scenario.from_files(day=args.day), args.host, args.port)
    settings = f"JOBBNORGE_API_URL={fake.base_url} JOBBNORGE_DETAIL_URL={fake.base_url} BRREG_API_URL={fake.brreg_url}"
    nav = None
    if args.nav_port:
        nav = FakeNav(demo_nav_scenario(), args.host, args.nav_port).start()
        settings += f" NAV_FEED_URL={nav.base_url} NAV_FEED_LOOKBACK_DAYS=36500"
    print(settings, flush=True)
    try:
        fake.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.httpd.server_close()
        if nav is not None:
            nav.stop()


if __name__ == "__main__":
    main()
