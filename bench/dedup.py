"""Time and peak memory of a full `munijobs dedup --rebuild`, and the time to place one new posting.

Generates --postings postings (default 1,000,000) straight into a fresh database, as the store path would have left
them before deduplication (one ad per posting): positions of municipal employers spread over all municipalities and
ten years, each with its employer's shared boilerplate ("Om kommunen", "Vi tilbyr", how to apply), a unit, duties
drawn from the occupation's pool, title, percent, engagement and deadline. A realistic share are duplicates:
25 % of positions also on Jobbnorge (text reordered, title reworded; half linked by the Jobbnorge id in NAV's
application URL), 5 % entered twice on NAV, 3 % advertised again after closing, 2 % on a third source (webcruiter).

Then runs `munijobs dedup --rebuild --workers N` in a subprocess (wall time, CPU time, peak RSS), and places --new
postings one at a time through the store path (store_batch, which ends in storage.clusters.update_clusters),
--runs times, printing min / median / max over the runs of each run's median (and 95th percentile) of
update_clusters (what the 5 ms target is for) and of the whole store_batch, beside an anchor measured just before
each placement: deriving the same posting's text values (pure Python, no database), and the ratio.

Usage:  python bench/dedup.py [--postings 50000] [--new 50] [--runs 3] [--workers 2]
                              [--database-url URL] [--generated FILE] [--place-only]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, make_url, text

from munijobs import codes
from munijobs.dedup.features import derive
from munijobs.items import JobPosting, WorkLocation
from storage import clusters
from storage.db import ensure_source, get_engine, session_scope, upgrade
from storage.models import Ad, Posting
from storage.models import WorkLocation as WorkLocationRow
from storage.postings import store_batch

START = datetime(2016, 1, 1, tzinfo=UTC)
YEARS = 10
"""A million postings over ten years: about what Norway's municipalities advertise (NAV has some 400,000 ads a
year in all; municipal employers publish a fifth of them, and Jobbnorge and NAV×NAV copies add to that)."""
OCCUPATIONS = {
    "Sykepleier": ["planlegge, utføre og dokumentere sykepleie", "legemiddelhåndtering", "veilede studenter",
                   "samarbeide med lege og fysioterapeut", "observere og rapportere endringer",
                   "ivareta pårørende", "delta i fagutvikling", "koordinere tjenester rundt pasienten"],
    "Helsefagarbeider": ["personlig stell og pleie", "hjelp ved måltider", "dokumentasjon i fagsystem",
                         "medisinutdeling etter delegering", "tilrettelegge aktiviteter", "samarbeid med pårørende"],
    "Lærer": ["undervisning i norsk og matematikk", "kontaktlærerarbeid", "samarbeid med foresatte",
              "vurdering for læring", "tilpasset opplæring", "tverrfaglig samarbeid i trinnteamet"],
    "Barnehagelærer": ["pedagogisk ledelse av avdelingen", "planlegging og dokumentasjon", "foreldresamarbeid",
                       "veiledning av assistenter", "språkarbeid", "overganger mellom barnehage og skole"],
    "Miljøarbeider": ["bistand i dagliglivet", "tilrettelegge aktiviteter", "miljøterapeutisk arbeid",
                      "dokumentasjon", "forebygge bruk av tvang og makt", "samarbeid med habiliteringstjenesten"],
    "Renholder": ["renhold av kommunale bygg", "bruk av renholdsmaskiner", "avfallshåndtering",
                  "bestilling av renholdsmidler", "samarbeid med driftsleder"],
    "Saksbehandler": ["behandling av søknader", "veiledning av innbyggere", "utredninger", "arkivering",
                      "politiske saksframlegg", "samarbeid med andre etater"],
}
UNIT_KINDS = ["helse- og omsorgssenter", "sykehjem", "barneskole", "ungdomsskole", "barnehage", "bofellesskap",
              "hjemmetjeneste", "servicetorg"]
UNIT_NAMES = ["Lade", "Byåsen", "Hessa", "Blindheim", "Tranby", "Vollen", "Nes", "Holmen", "Ridabu", "Eik", "Berg",
              "Strand", "Moen", "Haugen", "Vik", "Dal", "Bakke", "Lund", "Sand", "Myra", "Øvre", "Nedre", "Sentrum",
              "Sjøgata", "Furulund", "Solbakken", "Granly", "Åsen", "Lia", "Bryn"]
TITLE_FORMS = ["{title}", "{title} - {percent} % fast stilling", "{title} ved {unit}", "Ledig stilling som {lower}",
               "{title} {percent} %"]
WORDS = ["engasjert", "tverrfaglig", "trygg", "faglig", "stabil", "moderne", "variert", "spennende", "inkluderende",
         "godt", "aktivt", "sterkt", "selvstendig", "strukturert", "omsorgsfull", "pålitelig", "fleksibel", "erfaren",
         "motivert", "løsningsorientert"]


def boilerplate(name: str, rng: random.Random) -> str:
    """The employer's shared text: every ad of the municipality carries it."""
    extra = " ".join(f"Vi er {rng.choice(WORDS)} og {rng.choice(WORDS)} i arbeidet vårt." for _ in range(4))
    return (f"Om kommunen\n{name} kommune er en {rng.choice(WORDS)} kommune med korte avstander, flott natur og et "
            f"rikt kulturliv. {extra}\nVi tilbyr\n• Lønn etter hovedtariffavtalen\n• Gode pensjonsordninger i KLP\n"
            "• Et godt arbeidsmiljø med dyktige kolleger\nSøknad\nSøk via lenken i annonsen. Politiattest må "
            "fremlegges. Offentlig søkerliste kan bli utarbeidet.\nSpørsmål om stillingen kan rettes til "
            "enhetsleder på [telefon].")


def position_text(unit: str, title: str, percent: int, duties: list[str], rng: random.Random) -> str:
    own = " ".join(f"{unit} har {rng.randint(3, 60)} {rng.choice(['plasser', 'ansatte', 'elever', 'barn'])} og "
                   f"legger vekt på {rng.choice(WORDS)} {rng.choice(['samarbeid', 'fagutvikling', 'trivsel'])}."
                   for _ in range(3))
    return (f"{unit} har ledig {percent} % stilling som {title.lower()}. {own}\nArbeidsoppgaver\n"
            + "\n".join(f"• {d}" for d in duties) + "\nKvalifikasjoner\n• Relevant utdanning\n• Gode norskkunnskaper"
            f"\n• Du er {rng.choice(WORDS)} og {rng.choice(WORDS)}")


def generate(count: int, seed: int = 7):
    """Yield (source, source_ad_id, posting values, postal code) until `count` postings."""
    rng = random.Random(seed)
    places = [m for m in codes.municipalities().values()]
    boilerplates = {m.code: boilerplate(m.name.split(" - ")[0], rng) for m in places}
    made, position = 0, 0
    while made < count:
        position += 1
        place = rng.choice(places)
        title, pool = rng.choice(list(OCCUPATIONS.items()))
        unit = f"{rng.choice(UNIT_NAMES)} {rng.choice(UNIT_KINDS)}"
        percent = rng.choice([100, 100, 80, 75, 50])
        engagement = rng.choice(["Fast", "Fast", "Vikariat"])
        published = START + timedelta(minutes=rng.randrange(YEARS * 365 * 24 * 60))
        deadline = (published + timedelta(days=rng.randint(14, 30))).date()
        body = position_text(unit, title, percent, rng.sample(pool, min(5, len(pool))), rng)
        own_text = f"{body}\n{boilerplates[place.code]}"
        closed = published + timedelta(days=rng.randint(20, 45))
        status = "active" if closed > START + timedelta(days=YEARS * 365 - 30) else "expired"
        base = {"title": rng.choice(TITLE_FORMS).format(title=title, percent=percent, unit=unit, lower=title.lower()),
                "job_title": title, "employer_name": f"{unit}, {place.name.split(' - ')[0]} kommune",
                "employer_orgnr": f"9{position % 10**8:08d}", "employer_parent_orgnr": f"8{int(place.code):08d}",
                "municipality_code": place.code, "county_code": place.county_code, "engagement_type":
                "permanent" if engagement == "Fast" else "temporary", "engagement_type_raw": engagement,
                "job_percent_min": float(percent), "job_percent_max": float(percent), "positions": 1,
                "deadline_date": deadline, "deadline_kind": "date", "published_at": published,
                "status": status, "closed_at": closed if status != "active" else None, "description_text": own_text}
        postal = f"{rng.randint(1000, 9999)}"
        jobbnorge_id = str(100000 + position)
        on_jobbnorge = rng.random() < 0.25
        nav = {**base, "url": f"https://arbeidsplassen.nav.no/stillinger/stilling/nav-{position}",
               "application_url": f"https://jobseeker.jobbnorge.no/apply/{jobbnorge_id}"
               if on_jobbnorge and rng.random() < 0.5 else None}
        yield "nav", f"nav-{position}", nav, postal
        made += 1
        if on_jobbnorge:
            lines = own_text.splitlines()
            yield "jobbnorge", jobbnorge_id, {**base, "title": f"{title} - {percent}% stilling", "employer_orgnr": None,
                                              "employer_parent_orgnr": None, "url": "https://www.jobbnorge.no/"
                                              f"ledige-stillinger/stilling/{jobbnorge_id}/x",
                                              "description_text": "\n".join(lines[-8:] + lines[:-8])}, postal
            made += 1
        if rng.random() < 0.05:
            yield "nav", f"nav-{position}-hand", {**nav, "application_url": None, "url": None,
                                                  "published_at": published + timedelta(hours=3)}, postal
            made += 1
        if rng.random() < 0.02:
            yield "webcruiter", f"wc-{position}", {**base, "url": f"https://candidate.webcruiter.com/job/{position}"}, \
                postal
            made += 1
        if rng.random() < 0.03 and status != "active":
            again = closed + timedelta(days=rng.randint(3, 30))
            yield "nav", f"nav-{position}-again", {**nav, "published_at": again, "status": "active", "closed_at": None,
                                                   "deadline_date": (again + timedelta(days=21)).date()}, postal
            made += 1


def fill(engine, count: int) -> None:
    """Insert the postings, one ad each and one work location each, as store_batch leaves them before dedup."""
    now = datetime.now(UTC)
    batch = []
    for source in ("jobbnorge", "webcruiter"):
        ensure_source(engine, source)

    def flush():
        with session_scope(engine) as session:
            session.execute(insert(Ad), [{"id": r["id"], "primary_posting_id": r["id"], "created_at": now}
                                         for r, _ in batch])
            session.execute(insert(Posting), [r for r, _ in batch])
            session.execute(insert(WorkLocationRow), [{"posting_id": r["id"], "position": 0, "postal_code": p,
                                                       "municipality_code": r["municipality_code"]} for r, p in batch])
        batch.clear()

    for posting_id, (source, source_ad_id, values, postal) in enumerate(generate(count), start=1):
        batch.append(({"id": posting_id, "ad_id": posting_id, "source": source, "source_ad_id": source_ad_id,
                       "first_seen_at": now, "last_seen_at": now, **values}, postal))
        if len(batch) == 5000:
            flush()
        if posting_id == count:
            break
    if batch:
        flush()
    if engine.dialect.name == "postgresql":  # the ids were given: move the sequences past them
        with session_scope(engine) as session:
            for table in ("ads", "postings", "work_locations"):
                session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                                     f" (SELECT COALESCE(MAX(id), 1) FROM {table}))"))


def rebuild(url: str, workers: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (with its workers) and peak RSS (GB, the largest process) of `munijobs dedup
    --rebuild` in a subprocess."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "munijobs", "dedup", "--rebuild", "--workers", str(workers)],
                   env={**os.environ, "DATABASE_URL": url}, check=True, stderr=subprocess.DEVNULL)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024 ** 2


def place_new(engine, count: int, run: int = 0, seed: int = 99) -> dict[str, list[float]]:
    """Store `count` new postings one at a time: seconds of each store_batch ("store_batch"), wall and CPU seconds of
    its update_clusters ("placing", "placing_cpu"; CPU: this process only, which on SQLite includes the database),
    and the anchor: wall seconds of deriving the same posting's text values (`derive`, pure Python, no database)
    just before ("anchor"), so a loaded machine shows in both."""
    figures: dict[str, list[float]] = {"store_batch": [], "placing": [], "placing_cpu": [], "anchor": []}
    original = clusters.update_clusters

    def timed(*args, **kwargs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = original(*args, **kwargs)
        figures["placing"].append(time.perf_counter() - started)
        figures["placing_cpu"].append(time.process_time() - started_cpu)
        return result

    import storage.postings
    storage.postings.update_clusters = timed
    for n, (source, source_ad_id, values, postal) in enumerate(generate(count, seed=seed + run)):
        if n == count:
            break
        place = WorkLocation(postal_code=postal, municipality_code=values["municipality_code"])
        item = JobPosting(source=source, source_ad_id=f"new{seed + run}-{source_ad_id}", work_locations=[place])
        for name, value in values.items():
            setattr(item, name, value)
        started = time.perf_counter()
        derive(SimpleNamespace(**{"url": None, "application_url": None, "origin_url": None, **values,
                                  "source": source, "source_ad_id": item.source_ad_id}), postal)
        figures["anchor"].append(time.perf_counter() - started)
        started = time.perf_counter()
        with session_scope(engine) as session:
            store_batch(session, [item])
        figures["store_batch"].append(time.perf_counter() - started)
    storage.postings.update_clusters = original
    return figures


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3, help="runs of placing --new postings (default 3)")
    parser.add_argument("--seed", type=int, default=99, help="of the new postings (another one for each --place-only"
                        " rerun on one database)")
    parser.add_argument("--workers", type=int, default=2, help="munijobs dedup --rebuild --workers (default 2)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    parser.add_argument("--generated", type=Path, help="SQLite only: a file of generated postings, made when missing"
                        " and copied (left as it is) when present, so runs at one size generate once")
    parser.add_argument("--place-only", action="store_true", help="only place the new postings (the database at"
                        " --database-url was generated and rebuilt by an earlier run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        file = make_url(url).database if url.startswith("sqlite") else None
        if args.place_only:
            engine = get_engine(url)
        elif args.generated and args.generated.exists() and file:
            shutil.copyfile(args.generated, file)
            engine = upgrade(get_engine(url))
            print(f"copied {args.postings} generated postings from {args.generated}")
        else:
            engine = upgrade(get_engine(url))
            started = time.perf_counter()
            fill(engine, args.postings)
            print(f"generated {args.postings} postings in {time.perf_counter() - started:.0f} s"
                  f" ({engine.dialect.name})")
            if args.generated and file:
                engine.dispose()
                shutil.copyfile(file, args.generated)
        if not args.place_only:
            seconds, cpu, peak = rebuild(url, args.workers)
            with engine.connect() as connection:
                ads, multi = connection.execute(text(
                    "SELECT COUNT(*), SUM(CASE WHEN posting_count > 1 THEN 1 ELSE 0 END) FROM v_ads")).one()
            print(f"munijobs dedup --rebuild: {seconds:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak:.2f} GB"
                  f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); {ads} ads,"
                  f" {multi} with more than one posting", flush=True)
        runs = [place_new(engine, args.new, run, args.seed) for run in range(args.runs)]

        def per_run(name: str, scale: float = 1000.0) -> list[float]:
            return [statistics.median(figures[name]) * scale for figures in runs]

        p95 = [sorted(f["placing"])[max(int(len(f["placing"]) * 0.95) - 1, 0)] * 1000 for f in runs]
        ratio = [statistics.median(f["placing"]) / statistics.median(f["anchor"]) for f in runs]
        print(f"one new posting, {args.new} per run, min / median / max over {args.runs} runs (load average"
              f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); the 5 ms target is for update_clusters:")
        print(f"  update_clusters wall median {spread(per_run('placing'))} ms, p95 {spread(p95)} ms,"
              f" CPU median {spread(per_run('placing_cpu'))} ms")
        print(f"  whole store_batch median {spread(per_run('store_batch'))} ms")
        print(f"  anchor (derive the same posting, no database) median {spread(per_run('anchor'))} ms;"
              f" update_clusters / anchor {spread(ratio)}")

if __name__ == "__main__":
    main()
