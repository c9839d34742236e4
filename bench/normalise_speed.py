"""Postings per second for the whole normalise_posting of a realistic ~4 KB HTML ad, on one core."""

from __future__ import annotations

import copy
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from munijobs.items import JobPosting, OccupationCode, WorkLocation
from munijobs.normalise import normalise_posting

AD_HTML = """
<div class="ad">
<h2 class="ad-heading" style="margin-top:0">Om Herøy kommune</h2>
<p class="intro"><span style="font-weight:400">Herøy kommune ligger ytterst på Sunnmøre og har om lag 9 000
innbyggere. Kommunen er kjent for et aktivt næringsliv med maritime virksomheter i verdensklasse, et rikt kulturliv og
flott natur med hav og fjell tett på. Kommunesenteret Fosnavåg har kort vei til Ålesund og flyplassen på Vigra.
</span></p>
<p><span style="font-weight:400">Som ansatt i kommunen blir du en del av en organisasjon som er opptatt av kvalitet,
samarbeid og utvikling av tjenestene til innbyggerne. Vi har om lag 800 ansatte fordelt på fire kommunalområder.</span>
</p>
<h2>Om stillingen</h2>
<p>Helse og velferd i Herøy kommune søker etter sykepleier til sykehjemmet. Vi har ledig 2 stillinger à 80&nbsp;%
i turnus, fast stilling, med oppstart etter avtale. Sykehjemmet har 48 plasser fordelt på tre avdelinger, og vi
legger vekt på faglig utvikling, godt arbeidsmiljø og tett samarbeid med pårørende.</p>
<p>Stillingene inngår i en turnus med arbeid hver tredje helg. Det kan bli aktuelt med økt stillingsprosent for rett
søker. Vi tilbyr introduksjonsprogram og fadderordning for nyansatte.</p>
<h3>Arbeidsoppgaver</h3>
<ul>
<li>Planlegge, utføre og dokumentere sykepleie til pasienter med sammensatte behov</li>
<li>Legemiddelhåndtering og oppfølging av pasientenes helsetilstand</li>
<li>Veiledning av helsefagarbeidere, studenter og lærlinger</li>
<li>Samarbeid med lege, fysioterapeut og pårørende</li>
<li>Delta i fagutvikling og kvalitetsforbedring i avdelingen</li>
</ul>
<h3>Kvalifikasjoner</h3>
<ul>
<li>Autorisasjon som sykepleier</li>
<li>Gode norskkunnskaper, muntlig og skriftlig (nivå B2 eller høyere)</li>
<li>Erfaring fra eldreomsorg er en fordel</li>
<li>Gode datakunnskaper, gjerne erfaring med Gerica eller Profil og Microsoft 365, PowerPoint og Teams</li>
<li>Førerkort klasse B</li>
</ul>
<h3>Personlige egenskaper</h3>
<ul>
<li>Du er faglig engasjert, strukturert og løsningsorientert</li>
<li>Du har gode samarbeidsevner og trives i et tverrfaglig miljø</li>
<li>Du er fleksibel og tar ansvar for egne arbeidsoppgaver</li>
</ul>
<h3>Vi tilbyr</h3>
<ul>
<li>Lønn etter avtale, minimum lønnstrinn 45 for sykepleiere med fire års ansiennitet</li>
<li>Gode pensjonsordninger i KLP, med 2 % egenandel</li>
<li>Rabatt 20 % på treningssenter og bedriftshelsetjeneste</li>
<li>Et hyggelig arbeidsmiljø med dyktige og engasjerte kollegaer</li>
</ul>
<p>Herøy kommune er en IA-bedrift og ønsker at arbeidsstyrken skal gjenspeile mangfoldet i befolkningen. Vi
oppfordrer derfor alle kvalifiserte kandidater til å søke, uavhengig av alder, kjønn, funksjonsnedsettelse,
nasjonalitet eller etnisk bakgrunn. Søkere må legge fram politiattest som ikke er eldre enn tre måneder.</p>
<p>Opplysninger om søkeren kan bli offentliggjort selv om søkeren har bedt om ikke å bli oppført på
offentlig søkerliste, jf. offentleglova § 25. Søkere som ber om unntak, vil bli varslet dersom ønsket ikke tas til
følge.</p>
<h3>Slik søker du</h3>
<p>Søknad sendes elektronisk via <a href="https://www.heroy.kommune.no/jobb" target="_blank" rel="noopener">kommunens
nettsider</a>. Vitnemål og attester lastes opp sammen med søknaden og tas med til eventuelt intervju. Vi gjør
oppmerksom på at referanser kan bli kontaktet.</p>
<p><strong>Søknadsfrist: 15. januar 2027</strong></p>
<p>Spørsmål om stillingen kan rettes til avdelingsleder Kari Nordmann, tlf. 913 45 678, e-post
kari.nordmann@heroy.kommune.no, eller enhetsleder på telefon 70 08 13 00. Org.nr. 964 978 840.</p>
<!-- tracking --><script>window.dataLayer = [];</script><style>.ad{color:#333}</style>
</div>
"""


def sample_posting() -> JobPosting:
    """A NAV-like posting with the ad above."""
    return JobPosting(
        source="nav",
        source_ad_id="bench",
        title="Sykepleier 80 % - Herøy sjukeheim",
        employer_name="Herøy kommune",
        description_html=AD_HTML,
        engagement_type_raw="Fast",
        extent_raw="Heltid",
        positions_raw="1",
        deadline_raw="",
        start_raw="Etter avtale",
        published_at=datetime(2026, 11, 20, 9, 30),
        work_locations=[WorkLocation(municipality="HERØY", county="MØRE OG ROMSDAL", postal_code="6090")],
        occupations=[OccupationCode(system="STYRK08NAV", code="2223.01", score=0.9)],
    )


def unique_postings(template: JobPosting, count: int, run: int) -> list[JobPosting]:
    """Copies of `template`, each ad text made different (as real ads are: no cache can help across postings)."""
    postings = []
    for number in range(count):
        posting = copy.deepcopy(template)
        posting.description_html = template.description_html.replace(
            "Org.nr.", f"Saksnummer {run}/{number:05d}. Org.nr.", 1
        )
        postings.append(posting)
    return postings


def main(runs: int = 5, per_run: int = 400) -> None:
    """Print postings per second for each run and their median."""
    template = sample_posting()
    print(f"ad HTML: {len(AD_HTML.encode())} bytes")
    for posting in unique_postings(template, 20, 0):
        normalise_posting(posting)
    rates = []
    for run in range(1, runs + 1):
        postings = unique_postings(template, per_run, run)
        started = time.process_time()
        for posting in postings:
            normalise_posting(posting)
        rate = per_run / (time.process_time() - started)
        rates.append(rate)
        print(f"run {run}: {rate:.0f} postings/s")
    print(f"median: {statistics.median(rates):.0f} postings/s (CPU time of one core, {per_run} postings per run)")


if __name__ == "__main__":
    main()
