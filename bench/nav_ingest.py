"""Benchmark: one full nav crawl of a generated 20,000-entry feed served on 127.0.0.1.

About a quarter of the ads are municipal (a limited set of underenheter per kommune, some behind ORGL levels), the
rest recurring state and private employers; ad texts are 2-5 KB; the change log has updates and INACTIVE events.
The crawl runs as `python -m munijobs crawl nav` in a subprocess into a fresh SQLite database, with throttling off.

requests_per_new_municipal_ad counts feed pages, the token and the details of municipal ads. The details fetched for
non-municipal ads (to learn an employer's scope) are reported apart: per non-municipal entry, and inside
all_nav_requests_per_new_municipal_ad.

Peak memory is the crawl process's own high-water mark (VmHWM, read from /proc while it runs): ru_maxrss of wait4
also counts the memory of this parent, which the child was forked from.

With --detail-delay-ms N the server answers every detail N ms late and the crawl runs with the project's own
politeness settings (AutoThrottle on, NAV_DETAIL_CONCURRENCY = --concurrency): the bench prints details per second
and the mean number of details in flight against the configured concurrency, beside a bare Scrapy spider fetching
the same details with as many in flight (the anchor), min/median/max over --runs. Target: details/s >= 0.9 x
concurrency / latency.

Usage:  python bench/nav_ingest.py [--entries 20000] [--seed 7] [--keep DIR]
        python bench/nav_ingest.py --detail-delay-ms 1000 --entries 400 [--concurrency 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from munijobs import codes  # noqa: E402
from storage.db import get_engine  # noqa: E402
from storage.models import Posting  # noqa: E402
from tests.fakes.nav_server import PUBLIC_TOKEN, FakeNav, Scenario  # noqa: E402

TARGETS = {"requests_per_new_municipal_ad": 1.05, "details_per_non_municipal_entry": 0.3, "cpu_ms_per_stored_ad": 10}
UNIT_NAMES = [
    "Helsehuset",
    "Hjemmetjenesten",
    "Sentrum barnehage",
    "Nordre skole",
    "Legevakten",
    "Sykehjemmet",
    "Teknisk drift",
    "Kulturskolen",
    "Barnevernstjenesten",
    "NAV sosial",
    "Rådhuset",
    "Bibliotek",
]
MUNICIPAL_TITLES = [
    "Sykepleier",
    "Helsefagarbeider",
    "Barnehagelærer",
    "Lærer 1.-7. trinn",
    "Spesialpedagog",
    "Vernepleier",
    "Saksbehandler byggesak",
    "Renholder",
    "Miljøterapeut",
    "Fagarbeider vei",
    "Ingeniør VA",
    "Rådgiver økonomi",
    "Assistent barnehage",
    "Sommervikar sykehjem",
]
OTHER_TITLES = [
    "Selger",
    "Butikkmedarbeider",
    "Tømrer",
    "Elektriker",
    "Lagermedarbeider",
    "Regnskapsfører",
    "Utvikler",
    "Kokk",
    "Servitør",
    "Sjåfør klasse C",
    "Prosjektleder",
    "Konsulent",
    "Veileder",
]
PRIVATE_STEMS = [
    "Rema 1000",
    "Kiwi",
    "Coop Extra",
    "Bygg",
    "Elektro",
    "Transport",
    "Regnskap",
    "Data",
    "Restaurant",
    "Hotell",
    "Rør",
    "Maling",
    "Eiendom",
    "Logistikk",
    "Service",
    "Energi",
    "Fisk",
    "Tre",
]
PHRASES = [
    "Vi søker en engasjert og løsningsorientert medarbeider som trives i et travelt miljø.",
    "Du vil bli en del av et tverrfaglig team med fokus på kvalitet, trygghet og godt samarbeid.",
    "Arbeidsoppgavene omfatter planlegging, gjennomføring og dokumentasjon av tjenestene.",
    "Vi tilbyr lønn etter avtale, gode pensjons- og forsikringsordninger og fleksibel arbeidstid.",
    "Søkere må legge fram politiattest som ikke er eldre enn tre måneder før tiltredelse.",
    "Det er ønskelig med erfaring fra tilsvarende arbeid, men nyutdannede oppfordres også til å søke.",
    "Stillingen er fast med tiltredelse etter avtale, og stillingsbrøken er 80-100 prosent.",
    "Vi legger vekt på personlig egnethet, gode kommunikasjonsevner og evne til å jobbe selvstendig.",
    "Kommunen er en IA-virksomhet og ønsker mangfold blant de ansatte.",
    "Opplysninger om søker kan bli offentliggjort selv om søkeren har bedt om å ikke bli oppført på søkerlisten.",
]


@dataclass
class Employer:
    name: str
    orgnr: str
    sector: str
    municipal: bool
    municipality: str


def _orgnr(counter: list[int]) -> str:
    counter[0] += 1
    return f"{800000000 + counter[0]:09d}"


def _unit(orgnr: str, name: str, form: str, kommunenr: str, parent: str | None = None, subunit: bool = False) -> dict:
    address = {"land": "Norge", "landkode": "NO", "postnummer": "0001", "kommunenummer": kommunenr, "adresse": ["Gt 1"]}
    data: dict[str, Any] = {
        "organisasjonsnummer": orgnr,
        "navn": name.upper(),
        "organisasjonsform": {"kode": form, "beskrivelse": form},
        "beliggenhetsadresse" if subunit else "forretningsadresse": address,
    }
    if parent:
        data["overordnetEnhet"] = parent
    return data


def employers(rng: random.Random, subunits: dict, units: dict) -> tuple[list[Employer], list[Employer]]:
    """Municipal employers (underenheter of 120 kommuner and 10 fylkeskommuner, a third behind ORGL) and others."""
    counter = [0]
    municipal: list[Employer] = []
    for kommune in rng.sample(list(codes.municipalities().values()), 120):
        top = _orgnr(counter)
        units[top] = _unit(top, f"{kommune.short_name} kommune", "KOMM", kommune.code)
        parent = top
        if rng.random() < 0.33:
            parent = _orgnr(counter)
            units[parent] = _unit(parent, f"{kommune.short_name} kommune helse og omsorg", "ORGL", kommune.code, top)
        for unit_name in rng.sample(UNIT_NAMES, 5):
            orgnr = _orgnr(counter)
            subunits[orgnr] = _unit(
                orgnr, f"{kommune.short_name} kommune {unit_name}", "ORGL", kommune.code, parent, subunit=True
            )
            name = f"{kommune.short_name} kommune" if rng.random() < 0.4 else f"{unit_name} {kommune.short_name}"
            municipal.append(Employer(name, orgnr, "Offentlig", True, kommune.short_name.upper()))
    for county in list(codes.counties().values())[:10]:
        top = _orgnr(counter)
        units[top] = _unit(top, f"{county.short_name} fylkeskommune", "FYLK", county.code + "01")
        for school in range(4):
            orgnr = _orgnr(counter)
            subunits[orgnr] = _unit(orgnr, f"{county.short_name} vgs {school}", "BEDR", county.code + "01", top, True)
            municipal.append(Employer(f"{county.short_name} fylkeskommune", orgnr, "Offentlig", True, "?"))
    others: list[Employer] = []
    state = _orgnr(counter)
    units[state] = _unit(state, "Staten", "STAT", "0301")
    for office in range(150):
        orgnr = _orgnr(counter)
        name = f"Sykehuset avdeling {office} HF" if office % 3 == 0 else f"Statlig etat kontor {office}"
        subunits[orgnr] = _unit(orgnr, name, "BEDR", "0301", state, True)
        others.append(Employer(name, orgnr, "Offentlig", False, "OSLO"))
    for company in range(1200):
        top, orgnr = _orgnr(counter), _orgnr(counter)
        stem = f"{rng.choice(PRIVATE_STEMS)} {company}"
        units[top] = _unit(top, f"{stem} AS", "AS", "0301")
        subunits[orgnr] = _unit(orgnr, f"{stem} AS avd", "BEDR", "0301", top, True)
        name = f"{stem} AS" if rng.random() < 0.7 else stem
        others.append(Employer(name, orgnr if rng.random() > 0.05 else "", "Privat", False, "OSLO"))
    return municipal, others


def ad_text(rng: random.Random, title: str, employer: str) -> str:
    """A 2-5 KB HTML ad text."""
    size = rng.randint(2000, 5000)
    parts = [f"<p><strong>{employer}</strong> har ledig stilling som {title.lower()}.</p>"]
    while sum(map(len, parts)) < size:
        parts.append("<p>" + " ".join(rng.sample(PHRASES, 3)) + "</p>")
    return "".join(parts)


def content(rng: random.Random, ad_uuid: str, employer: Employer, title: str, stamp: str) -> dict:
    return {
        "uuid": ad_uuid,
        "published": stamp,
        "updated": stamp,
        "expires": (datetime.fromisoformat(stamp) + timedelta(days=30)).isoformat(),
        "workLocations": [
            {
                "country": "NORGE",
                "address": "Storgata 1",
                "city": employer.municipality,
                "postalCode": "0001",
                "county": "",
                "municipal": employer.municipality,
            }
        ],
        "contactList": [{"name": "Bench Kontakt", "email": "kontakt@bench.example", "phone": "12345678"}],
        "title": title,
        "description": ad_text(rng, title, employer.name),
        "sourceurl": "",
        "source": "IMPORTAPI",
        "applicationUrl": "",
        "applicationDue": rng.choice(["Snarest", "15.01.2027", "2027-01-31T00:00:00"]),
        "occupationCategories": [{"level1": "Helse og omsorg", "level2": "Sykepleier"}],
        "categoryList": [{"categoryType": "STYRK08", "code": "2223", "name": "Sykepleiere", "score": 1.0}],
        "jobtitle": title,
        "link": f"https://arbeidsplassen.nav.no/stillinger/stilling/{ad_uuid}",
        "employer": {"name": employer.name, "orgnr": employer.orgnr, "description": "", "homepage": ""},
        "engagementtype": rng.choice(["Fast", "Vikariat", "Engasjement"]),
        "extent": rng.choice(["Heltid", "Deltid"]),
        "starttime": "Etter avtale",
        "positioncount": "1",
        "sector": employer.sector,
    }


def feed_entry(ad_uuid: str, status: str, title: str, business_name: str, municipal: str, stamp: str) -> dict:
    """One change-log entry in the feed's `_feed_entry` shape."""
    return {"uuid": ad_uuid, "status": status, "title": title, "businessName": business_name, "municipal": municipal,
            "sistEndret": stamp}


def scenario(total: int, seed: int) -> tuple[Scenario, set[str]]:
    """The generated feed and the set of municipal ad uuids."""
    rng = random.Random(seed)
    subunits: dict[str, dict] = {}
    units: dict[str, dict] = {}
    municipal, others = employers(rng, subunits, units)
    entries: list[dict] = []
    details: dict[str, dict[str, Any]] = {}
    ads: list[tuple[str, Employer, str]] = []
    municipal_ids: set[str] = set()
    start = datetime(2026, 6, 1, tzinfo=UTC)
    for seq in range(total):
        stamp = (start + timedelta(seconds=600 * seq)).isoformat()
        roll = rng.random()
        if ads and roll < 0.06:  # an update of a recent ad
            ad_uuid, employer, title = ads[-rng.randint(1, min(len(ads), 300))]
            details[ad_uuid][stamp] = content(rng, ad_uuid, employer, title + " (oppdatert)", stamp)
            entries.append(feed_entry(ad_uuid, "ACTIVE", title, employer.name, employer.municipality, stamp))
            continue
        if ads and roll < 0.10:  # an old ad expires
            ad_uuid, employer, _ = ads[rng.randrange(max(len(ads) - 3000, 1))]
            entries.append(feed_entry(ad_uuid, "INACTIVE", "?", "?", "?", stamp))
            continue
        is_municipal = rng.random() < 0.27
        employer = rng.choice(municipal if is_municipal else others)
        title = rng.choice(MUNICIPAL_TITLES if is_municipal else OTHER_TITLES)
        ad_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        ads.append((ad_uuid, employer, title))
        details[ad_uuid] = {stamp: content(rng, ad_uuid, employer, title, stamp)}
        if is_municipal:
            municipal_ids.add(ad_uuid)
        entries.append(feed_entry(ad_uuid, "ACTIVE", title, employer.name, employer.municipality, stamp))
    return Scenario(entries=entries, details=details, subunits=subunits, units=units, page_size=1000), municipal_ids


class SlowNav(FakeNav):
    """The fake NAV server answering every detail `delay` seconds late; it records when each detail was in flight."""

    def __init__(self, scenario: Scenario, delay: float) -> None:
        super().__init__(scenario)
        self.delay = delay
        self.detail_spans: list[tuple[float, float]] = []

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, dict, bytes]:
        if not self.delay or "/api/v1/feedentry/" not in path:
            return super().answer(path, query, headers)
        started = time.monotonic()
        time.sleep(self.delay)
        try:
            return super().answer(path, query, headers)
        finally:
            with self.lock:
                self.detail_spans.append((started, time.monotonic()))

    def detail_rate(self) -> tuple[float, float]:
        """(details answered per second, mean details in flight) since the last reset, by Little's law."""
        with self.lock:
            spans, self.detail_spans = self.detail_spans, []
        if len(spans) < 2:
            return 0.0, 0.0
        window = max(end for _, end in spans) - min(start for start, _ in spans)
        return len(spans) / window, sum(end - start for start, end in spans) / window


def wait_measuring_peak(child: subprocess.Popen) -> tuple[int, Any, float]:
    """wait4 the child; returns (status, rusage, its own peak resident memory in MB from /proc VmHWM)."""
    peak_kb = 0
    status_file = Path(f"/proc/{child.pid}/status")
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            return status, usage, peak_kb / 1024
        with contextlib.suppress(OSError, StopIteration, ValueError):  # the child may be exiting
            peak_kb = max(peak_kb, next(int(line.split()[1]) for line in status_file.read_text().splitlines()
                                        if line.startswith("VmHWM:")))
        time.sleep(0.05)


BARE_SPIDER = """
import scrapy

class Bare(scrapy.Spider):
    name = "bare"

    async def start(self):
        for url in self.urls.split():
            yield scrapy.Request(url, headers={"Authorization": "Bearer " + self.token}, dont_filter=True)

    def parse(self, response):
        pass
"""


def bare_spider(fake: SlowNav, urls: list[str], concurrency: int, workdir: Path) -> tuple[float, float]:
    """A bare Scrapy spider fetching these URLs with `concurrency` in flight: (details/s, mean in flight)."""
    spider = workdir / "bare_spider.py"
    spider.write_text(BARE_SPIDER)
    fake.detail_rate()
    subprocess.run([sys.executable, "-m", "scrapy", "runspider", str(spider), "-a", f"urls={' '.join(urls)}",
                    "-a", f"token={PUBLIC_TOKEN}", "-s", f"CONCURRENT_REQUESTS={concurrency}",
                    "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}", "-s", "ROBOTSTXT_OBEY=False",
                    "-s", "LOG_LEVEL=WARNING", "-s", "TELNETCONSOLE_ENABLED=False"], check=True, cwd=workdir)
    return fake.detail_rate()


def run(total: int, seed: int, keep: Path | None, delay: float = 0.0, concurrency: int = 16) -> dict[str, float]:
    generated, municipal_ids = scenario(total, seed)
    workdir = keep or Path(tempfile.mkdtemp(prefix="munijobs-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    with SlowNav(generated, delay) as fake:
        settings = {
            "NAV_FEED_URL": fake.base_url,
            "BRREG_API_URL": fake.brreg_url,
            "NAV_FEED_LOOKBACK_DAYS": "36500",
            "NAV_DETAIL_CONCURRENCY": str(concurrency),
            "LOG_LEVEL": "WARNING",
            "LOGSTATS_INTERVAL": "600",
        }
        if not delay:  # the crawl's own cost, unthrottled; with a delay, the project's politeness as configured
            settings.update({"AUTOTHROTTLE_ENABLED": "False", "CONCURRENT_REQUESTS": "32",
                             "CONCURRENT_REQUESTS_PER_DOMAIN": "32"})
        else:  # the register under a host name of its own, as in production: Scrapy throttles per host
            settings["BRREG_API_URL"] = fake.brreg_url.replace("127.0.0.1", "localhost")
        command = [sys.executable, "-m", "munijobs", "crawl", "nav", *(f"-s{k}={v}" for k, v in settings.items())]
        env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
        log = (workdir / "crawl.log").open("w")
        started = time.monotonic()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        status, usage, peak_mb = wait_measuring_peak(child)
        wall = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        hits = dict(fake.hits)
        rates = {}
        if delay:
            rate, in_flight = fake.detail_rate()
            detail_urls = [f"{fake.base_url}{path}" for path in hits if path.startswith("/api/v1/feedentry/")]
            bare_rate, bare_in_flight = bare_spider(fake, detail_urls, concurrency, workdir)
            rates = {"details_per_second": rate, "details_in_flight": in_flight,
                     "configured_concurrency": concurrency, "bare_spider_details_per_second": bare_rate,
                     "bare_spider_details_in_flight": bare_in_flight,
                     "ratio_to_bare_spider": rate / bare_rate if bare_rate else 0.0,
                     "target_details_per_second": 0.9 * concurrency / delay}
    if child.returncode != 0:
        raise SystemExit(f"crawl failed (exit {child.returncode}); see {workdir / 'crawl.log'}")
    with Session(get_engine(database_url)) as session:
        stored = session.scalar(select(func.count()).select_from(Posting))
        stored_ids = set(session.scalars(select(Posting.source_ad_id)))
    detail_paths = {path for path in hits if path.startswith("/api/v1/feedentry/")}
    nav_requests = sum(count for path, count in hits.items() if path.startswith("/api/"))
    municipal_details = sum(hits[path] for path in detail_paths if path.rsplit("/", 1)[1] in municipal_ids)
    brreg_requests = sum(count for path, count in hits.items() if path.startswith("/enhetsregisteret/"))
    non_municipal_entries = sum(
        1 for e in generated.entries if e["status"] == "ACTIVE" and e["uuid"] not in municipal_ids
    )
    non_municipal_details = sum(hits[path] for path in detail_paths if path.rsplit("/", 1)[1] not in municipal_ids)
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "feed_entries": len(generated.entries),
        "new_municipal_ads": len(municipal_ids),
        "stored_ads": stored,
        "stored_municipal_ads": len(stored_ids & municipal_ids),
        "nav_requests": nav_requests,
        "brreg_requests": brreg_requests,
        "requests_per_new_municipal_ad": (nav_requests - non_municipal_details) / len(municipal_ids),
        "all_nav_requests_per_new_municipal_ad": nav_requests / len(municipal_ids),
        "municipal_detail_requests": municipal_details,
        "non_municipal_detail_requests": non_municipal_details,
        "requests_per_stored_ad": nav_requests / max(stored, 1),
        "brreg_requests_per_new_municipal_ad": brreg_requests / len(municipal_ids),
        "details_per_non_municipal_entry": non_municipal_details / max(non_municipal_entries, 1),
        "cpu_ms_per_stored_ad": 1000 * cpu / max(stored, 1),
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "peak_memory_mb": peak_mb,
        **rates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="directory for the database and crawl log (default: a temp dir)")
    parser.add_argument("--detail-delay-ms", type=int, default=0, help="answer every detail this many ms late")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="NAV_DETAIL_CONCURRENCY (default 16 unthrottled, 4 with --detail-delay-ms)")
    parser.add_argument("--runs", type=int, default=1, help="runs (min/median/max are printed when more than one)")
    args = parser.parse_args()
    concurrency = args.concurrency or (4 if args.detail_delay_ms else 16)
    runs = [run(args.entries, args.seed, args.keep, args.detail_delay_ms / 1000, concurrency) for _ in range(args.runs)]
    figures = {name: statistics.median(run_[name] for run_ in runs) for name in runs[0]}
    if args.runs > 1:
        for name in ("details_per_second", "ratio_to_bare_spider", "cpu_ms_per_stored_ad", "peak_memory_mb"):
            if name in figures:
                values = sorted(run_[name] for run_ in runs)
                print(f"{name}: min {values[0]:.3f} median {statistics.median(values):.3f} max {values[-1]:.3f}")
    for name, value in figures.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"  (target <= {target}: {'ok' if value <= target else 'MISSED'})"
        print(f"{name:40s} {value:12.3f}{verdict}" if isinstance(value, float) else f"{name:40s} {value:12d}")


if __name__ == "__main__":
    main()
