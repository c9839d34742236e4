"""Benchmark: jobbnorge crawls of a generated 2,000-posting list served on 127.0.0.1.

About 60 % of the postings are municipal (kommuner, fylkeskommuner, an IKS; departments as employer), the rest state,
hospital, foundation and company employers; texts are 2-5 KB in the components or jobGapComponents template. Three
runs into one fresh SQLite database, each `python -m munijobs crawl jobbnorge` in a subprocess, throttling off:

1. the first run (everything new);
2. the next day, when 5 % of the list records changed (new deadline or title) and 1 % of the postings were replaced;
3. a run with nothing changed.

It prints the requests per run (list, detail, Brønnøysund) and the CPU time per stored posting of the first run.

Usage:  python bench/jobbnorge_ingest.py [--postings 2000] [--seed 11] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from munijobs import codes  # noqa: E402
from storage.db import get_engine  # noqa: E402
from storage.models import Posting  # noqa: E402
from tests.fakes.jobbnorge_server import FakeJobbnorge, Scenario  # noqa: E402

TARGETS = {"run1_detail_requests_per_stored_posting": 1.0, "run2_detail_requests": 130, "run3_requests": 1,
           "cpu_ms_per_stored_posting": 10}
"""Run 2 may ask the ~100 changed postings, the ~20 new ones and a few due for a refresh; run 3 only the list."""
DEPARTMENTS = ["Helse og velferd", "Oppvekst", "Hjemmetjenesten", "Nordre skole", "Sentrum barnehage", "Teknisk drift",
               "Kulturskolen", "Sykehjemmet"]
TITLES = ["Sykepleier", "Helsefagarbeider", "Barnehagelærer", "Lærer 1.-7. trinn", "Vernepleier", "Rådgiver",
          "Ingeniør VA", "Renholder", "Miljøterapeut", "Lektor", "Stipendiat", "Seniorrådgiver"]
PHRASES = [
    "Vi søker en engasjert og løsningsorientert medarbeider som trives i et travelt miljø.",
    "Du blir en del av et tverrfaglig team med fokus på kvalitet, trygghet og godt samarbeid.",
    "Arbeidsoppgavene omfatter planlegging, gjennomføring og dokumentasjon av tjenestene.",
    "Vi tilbyr lønn etter avtale, gode pensjons- og forsikringsordninger og fleksibel arbeidstid.",
    "Søkere må legge fram politiattest som ikke er eldre enn tre måneder.",
    "Det er ønskelig med erfaring fra tilsvarende arbeid, men nyutdannede oppfordres også til å søke.",
    "Vi legger vekt på personlig egnethet, gode kommunikasjonsevner og evne til å jobbe selvstendig.",
]


def _unit(orgnr: int, name: str, form: str, parent: int | None = None) -> dict[str, Any]:
    unit: dict[str, Any] = {"organisasjonsnummer": f"{orgnr:09d}", "navn": name.upper(),
                            "organisasjonsform": {"kode": form}, "forretningsadresse": {"kommunenummer": "0301"}}
    if parent:
        unit["overordnetEnhet"] = f"{parent:09d}"
    return unit


def employers(rng: random.Random, units: dict[str, dict]) -> list[tuple[str, str | None, bool, str, str]]:
    """(employer, department, department shown as employer, municipality, county) choices, municipal ones first."""
    orgnr = [700000000]

    def register(name: str, form: str, parent: int | None = None) -> int:
        orgnr[0] += 1
        units[f"{orgnr[0]:09d}"] = _unit(orgnr[0], name, form, parent)
        return orgnr[0]

    counties = {c.code: c.short_name for c in codes.counties().values()}
    choices = []
    for kommune in rng.sample(list(codes.municipalities().values()), 150):
        register(f"{kommune.short_name} kommune", "KOMM")
        county = counties.get(kommune.county_code, "")
        for _ in range(3):
            department = rng.choice(DEPARTMENTS)
            choices.append((f"{kommune.short_name} kommune", department, rng.random() < 0.5, kommune.short_name,
                            county))
    for county in list(counties.values())[:10]:
        register(f"{county} fylkeskommune", "FYLK")
        choices.append((f"{county} fylkeskommune ({county[:1]}FK)", f"{county} videregående skole", False, county,
                        county))
    register("Vestfold Vann IKS", "IKS")
    choices.append(("Vestfold Vann IKS", None, False, "Tønsberg", "Vestfold"))
    municipal = len(choices)
    state = register("Kunnskapsdepartementet", "STAT")
    for n in range(40):
        register(f"Universitetet nr {n}", "ORGL", state)
        choices.append((f"Universitetet nr {n}", "Fakultet", False, "Oslo", "Oslo"))
    for n in range(60):
        register(f"Stiftelsen Omsorg {n}", "STI")
        choices.append((f"Stiftelsen Omsorg {n}", None, False, "Bergen", "Vestland"))
        choices.append((f"Helse Region {n} HF", "Klinikk", True, "Bergen", "Vestland"))
    return choices[:municipal] * 2 + choices[municipal:]  # municipal employers weigh double


def record(rng: random.Random, job_id: int, employer: tuple) -> dict[str, Any]:
    name, department, shown, municipality, county = employer
    deadline = rng.choice(["Løpende", "15.01.2027", "31.01.2027", "28.02.2027"])
    return {"id": job_id, "title": rng.choice(TITLES), "employer": name, "department": department,
            "regardDepartmentAsEmployer": shown, "jobScope": rng.choice(["Heltid", "Deltid", "Fast prosent"]),
            "jobDuration": rng.choice(["Fast", "Vikariat/Midlertidig", "Åremål"]), "jobType": {"name": "Stilling"},
            "positionCount": rng.choice([1, 1, 1, 2, 3]), "promoted": False, "publicationDate": "01.11.2026",
            "deadline": deadline, "deadlineDate": None,
            "locations": [{"address": "Storgata 1", "area": municipality, "municipality": municipality,
                           "county": county, "isDomestic": True, "isPrimary": True, "zipCode": "0001"}],
            "link": f"https://www.jobbnorge.no/ledige-stillinger/stilling/{job_id}"}


def detail(rng: random.Random, title: str) -> dict[str, Any]:
    size = rng.randint(2000, 5000)
    paragraphs = [f"<p>Vi har ledig stilling som {title.lower()}.</p>"]
    while sum(map(len, paragraphs)) < size:
        paragraphs.append("<p>" + " ".join(rng.sample(PHRASES, 3)) + "</p>")
    contacts = [{"name": "Bench Kontakt", "title": "Leder", "phone": "912 34 567", "email": "kontakt@bench.example"}]
    if rng.random() < 0.5:
        parts = [{"heading": heading, "text": "".join(paragraphs[i::3])}
                 for i, heading in enumerate(("Om stillingen", "Arbeidsoppgaver", "Vi tilbyr"))]
        return {"components": parts, "contacts": contacts, "isPublished": True}
    parts = [{"title": title_, "content": "".join(paragraphs[i::3])}
             for i, title_ in enumerate(("Om stillingen", "Kvalifikasjonskrav", "Vi tilbyr"))]
    return {"components": [], "jobGapComponents": parts, "contacts": contacts, "isPublished": True}


def scenario(total: int, seed: int) -> Scenario:
    """Day 1: `total` postings; day 2: 5 % changed, 1 % removed and as many new."""
    rng = random.Random(seed)
    units: dict[str, dict] = {}
    choices = employers(rng, units)
    records = {str(400000 + n): record(rng, 400000 + n, rng.choice(choices)) for n in range(total)}
    day1 = [int(i) for i in records]
    replaced = set(rng.sample(day1, total // 100))
    new = [int(i) for i in (str(500000 + n) for n in range(len(replaced)))]
    records |= {str(i): record(rng, i, rng.choice(choices)) for i in new}
    day2 = [i for i in day1 if i not in replaced] + new
    changed = rng.sample([i for i in day1 if i not in replaced], total * 5 // 100)
    changes = {str(i): {"deadline": "30.04.2027"} if rng.random() < 0.7 else {"title": "Ny tittel"} for i in changed}
    details = {job_id: detail(rng, rec["title"]) for job_id, rec in records.items()}
    return Scenario(records=records, days={"1": day1, "2": day2}, details=details, units=units,
                    record_changes={"2": changes})


def crawl(fake: FakeJobbnorge, database_url: str, log: Path) -> tuple[int, float]:
    """One crawl; returns (exit code, CPU seconds of the crawl process)."""
    settings = {"JOBBNORGE_API_URL": fake.base_url, "JOBBNORGE_DETAIL_URL": fake.base_url,
                "BRREG_API_URL": fake.brreg_url, "AUTOTHROTTLE_ENABLED": "False", "LOG_LEVEL": "WARNING",
                "LOGSTATS_INTERVAL": "600"}
    command = [sys.executable, "-m", "munijobs", "crawl", "jobbnorge", *(f"-s{k}={v}" for k, v in settings.items())]
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    with log.open("a") as out:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(child.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def requests(fake: FakeJobbnorge) -> dict[str, int]:
    hits = fake.hits
    return {"list": sum(c for p, c in hits.items() if p.startswith("/v3/jobs")),
            "detail": sum(c for p, c in hits.items() if p.startswith("/api/joblisting")),
            "brreg": sum(c for p, c in hits.items() if p.startswith("/enhetsregisteret/"))}


def run(total: int, seed: int, keep: Path | None) -> dict[str, float]:
    generated = scenario(total, seed)
    workdir = keep or Path(tempfile.mkdtemp(prefix="munijobs-bench-jobbnorge-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    log = workdir / "crawl.log"
    figures: dict[str, float] = {"listed_postings": total}
    with FakeJobbnorge(generated) as fake:
        for number, day in ((1, "1"), (2, "2"), (3, "2")):
            fake.reset_counts()
            generated.day = day
            code, cpu = crawl(fake, database_url, log)
            if code != 0:
                raise SystemExit(f"crawl {number} failed (exit {code}); see {log}")
            counts = requests(fake)
            figures |= {f"run{number}_{kind}_requests": value for kind, value in counts.items()}
            figures[f"run{number}_requests"] = sum(counts.values())
            figures[f"run{number}_cpu_seconds"] = cpu
            if number == 1:
                with Session(get_engine(database_url)) as session:
                    stored = session.scalar(select(func.count()).select_from(Posting))
                figures["run1_stored_postings"] = stored
                figures["run1_requests_per_stored_posting"] = figures["run1_requests"] / max(stored, 1)
                figures["run1_detail_requests_per_stored_posting"] = counts["detail"] / max(stored, 1)
                figures["cpu_ms_per_stored_posting"] = 1000 * cpu / max(stored, 1)
    figures["run2_detail_requests"] = figures.pop("run2_detail_requests")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", type=Path, help="directory for the database and crawl log (default: a temp dir)")
    args = parser.parse_args()
    for name, value in run(args.postings, args.seed, args.keep).items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"  (target <= {target}: {'ok' if value <= target else 'MISSED'})"
        text = f"{value:12.3f}" if isinstance(value, float) else f"{value:12d}"
        print(f"{name:40s} {text}{verdict}")


if __name__ == "__main__":
    main()
