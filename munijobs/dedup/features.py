"""What deduplication compares of a posting: stripped text as a MinHash signature, LSH band keys, and plain fields.

Boilerplate is removed before shingling, because one employer's ads share it ("Om kommunen", "Vi tilbyr", how to
apply, who to call) and it would make every pair of its ads look alike: sections under a boilerplate heading and
lines of contact or procedure are dropped; what remains is mostly the duties, the unit and the qualifications.
"""

from __future__ import annotations

import hashlib
import re
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from datasketch import MinHash

from munijobs.dedup.links import link_keys

NUM_PERM = 64
"""MinHash permutations: the Jaccard estimate's standard error is about 0.06 at 64."""
BANDS, ROWS = 32, 2
"""LSH bands x rows per band (= NUM_PERM): a pair with Jaccard s shares a band with probability 1 - (1 - s^2)^32:
0.996 at the text threshold 0.40, 0.9999 at 0.5, 0.27 at 0.1 (within a block, so candidates stay few)."""
SHINGLE_WORDS = 3
MIN_STRIPPED_WORDS = 25
"""Fewer words left after stripping: the whole text is shingled instead."""
SEED = 1

BOILERPLATE_HEADINGS = re.compile(
    r"^(?:om (?:kommunen|oss|arbeidsgiver(?:en)?|fylkeskommunen|virksomheten|[a-zæøå]+ kommune)|vi tilbyr|vi kan tilby"
    r"|hva kan vi tilby|generell(?:e)? (?:informasjon|opplysninger)|annen informasjon|andre opplysninger|kontakt"
    r"|kontaktinformasjon|kontaktperson(?:er)?|spørsmål om stillingen|søknad|slik søker du|søknadsfrist|praktisk"
    r"|lønn(?: og vilkår)?|vilkår|tilsetting|ansettelse|offentlig søkerliste|politiattest|mangfold|inkludering"
    r"|våre verdier|hvorfor jobbe hos oss)\b", re.IGNORECASE)
BOILERPLATE_PHRASES = (
    "[telefon]", "[e-post]", "spørsmål om stillingen", "spørsmål om stillinga", "kontakte", "kontaktperson",
    "ta kontakt", "søknad sendes", "søknaden sendes", "søk via", "søk på", "søknadsfrist", "offentlig søkerliste",
    "offentleg søkjarliste", "offentleglova", "offentlighetsloven", "politiattest", "tilsetting skjer",
    "ansettelse skjer", "hovedtariffavtale", "hovudtariffavtale", "pensjonsordning", "kommunal landspensjonskasse",
    " klp", "mangfold", "uavhengig av", "oppfordres til å søke", "jobbnorge", "webcruiter", "easycruit", "http", "www.")
"""A line holding one of these (lower case) is contact or procedure: dropped. Plain substrings: far faster than
one regular expression over every line."""
_WORD = re.compile(r"[0-9a-zæøåäöüéè]+", re.IGNORECASE)
_HEADING_MAX = 60

TITLE_SHIFTS = (
    ("day", re.compile(r"\bdag(?:tid|vakt\w*|turnus|skift)?\b|\bdag-", re.IGNORECASE)),
    ("evening", re.compile(r"\bkveld(?:stid|svakt\w*|sturnus|sskift)?\b|\bkveld-", re.IGNORECASE)),
    ("night", re.compile(r"\bnatt\w*", re.IGNORECASE)),
)
"""Shifts a title names, in any form ("Sykepleier natt", "dagvakt")."""
TEXT_SHIFTS = (
    ("day", re.compile(r"\bdag(?:vakt\w*|turnus|skift\w*)|\bdag-(?=\s+og\s+\w+vakt)", re.IGNORECASE)),
    ("evening", re.compile(r"\bkvelds?(?:vakt\w*|turnus|skift\w*)|\bkveld-(?=\s+og\s+\w+vakt)", re.IGNORECASE)),
    ("night", re.compile(r"\bnatt(?:e)?(?:vakt\w*|turnus|skift\w*)", re.IGNORECASE)),
)
"""Shifts the text assigns to the position: only shift words ("nattevakt", "dagvakter"), not "dag, kveld og natt",
which ads use to describe the unit's opening hours."""
UNIT_SUBJECT = re.compile(r"^\s*([A-ZÆØÅ][\w\-. ]{2,80}?)\s+(?:har|søker|søkjer|ønsker|ønskjer|trenger|treng)\b")
UNIT_AFTER = re.compile(r"\b(?:ved|til|hos|på)\s+([A-ZÆØÅ][\wæøå]+(?:[\s-]+(?:og\s+)?[\wæøå]+){0,4}?)"
                        r"(?=\s+(?:i|med|fra|for|som|og)\b|[.,;:()]|\s+\d|$)")
OPENING_LINES = 3
"""Lines of running text (past the headings) searched for the unit's name."""
GENERIC_SUBJECTS = frozenset({"vi", "kommunen", "avdelingen", "avdelinga", "enheten", "eininga", "sykehjemmet",
                              "sjukeheimen", "tjenesten", "tenesta", "skolen", "skulen", "barnehagen", "virksomheten",
                              "verksemda", "vi i", "du", "dette", "stillingen", "stillinga"})
PRONOUNS = frozenset({"vi", "du", "de", "dei", "det", "dette", "her", "nå", "no", "hos", "i"})
_MUNICIPALITY_NAME = re.compile(r"\b[\wæøå-]+ (?:(?:fylkes)?kommune|herad)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Features:
    """The compared values of one posting."""

    posting_id: int
    source: str
    status: str
    published_at: datetime | None
    closed_at: datetime | None
    first_seen_at: datetime | None
    title: str
    municipality_code: str | None
    percent: tuple[float | None, float | None]
    engagement_type: str | None
    deadline_date: date | None
    shifts: frozenset[str]
    units: tuple[str, ...]
    mentions: tuple[str, ...]
    links: frozenset[str]
    block: str
    text_length: int
    structured: int
    """How many structured fields are filled (the merge rule prefers the posting with most)."""
    signature: np.ndarray

    def similarity(self, other: Features) -> float:
        """Estimated Jaccard similarity of the two stripped texts' shingles."""
        return float(np.count_nonzero(self.signature == other.signature)) / NUM_PERM


def strip_boilerplate(text: str) -> str:
    """The text without sections under boilerplate headings and without contact and procedure lines."""
    kept, skipping = [], False
    for raw in text.splitlines():
        line = raw.strip().lstrip("•·-* ").strip()
        if not line:
            continue
        if len(line) <= _HEADING_MAX and not line.endswith((".", "!", "?")):
            heading = line.rstrip(":")
            if BOILERPLATE_HEADINGS.match(heading):
                skipping = True
                continue
            if line.endswith(":") or len(_WORD.findall(line)) <= 6:
                skipping = False
        lowered = line.lower()
        if skipping or any(phrase in lowered for phrase in BOILERPLATE_PHRASES):
            continue
        kept.append(line)
    return "\n".join(kept)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def shingles(text: str, stripped: str | None = None) -> set[bytes]:
    """Word SHINGLE_WORDS-grams of the boilerplate-stripped text (of the whole text when too little is left)."""
    tokens = words(strip_boilerplate(text) if stripped is None else stripped)
    if len(tokens) < MIN_STRIPPED_WORDS:
        tokens = words(text)
    if len(tokens) < SHINGLE_WORDS:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i:i + SHINGLE_WORDS]).encode() for i in range(len(tokens) - SHINGLE_WORDS + 1)}


_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED).permutations
"""Drawn once: MinHash draws them again for every object otherwise, which costs more than hashing an ad."""


def signature_of(text: str, stripped: str | None = None) -> np.ndarray:
    """MinHash signature (NUM_PERM 32-bit values) of the text's shingles; CRC-32 hashes them (stable across
    processes, and in C: a tenth of the default SHA-1's cost)."""
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, hashfunc=zlib.crc32, permutations=_PERMUTATIONS,
                      scheme="affine32")
    minhash.update_batch(list(shingles(text, stripped)))
    return minhash.hashvalues.astype(np.uint32)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BAND_SALT = np.arange(BANDS, dtype=np.uint64) * _GOLDEN


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads 64-bit values into well-mixed 64-bit keys (vectorised)."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return values ^ (values >> np.uint64(31))


def band_keys(block: str, signature: np.ndarray) -> list[int]:
    """One signed 64-bit key per LSH band (ROWS signature values, the band number and the block mixed in): postings
    sharing a key are candidates."""
    return band_keys_many([block], signature.reshape(1, NUM_PERM))[0].tolist()


def band_keys_many(blocks: list[str], signatures: np.ndarray) -> np.ndarray:
    """band_keys of many postings at once: an (n, BANDS) int64 array from n blocks and an (n, NUM_PERM) array."""
    rows = signatures.astype(np.uint64).reshape(len(blocks), BANDS, ROWS)
    combined = np.zeros((len(blocks), BANDS), dtype=np.uint64)
    salts = np.array([zlib.crc32(block.encode()) for block in blocks], dtype=np.uint64).reshape(-1, 1)
    with np.errstate(over="ignore"):
        for row in range(ROWS):
            combined = _mix(combined ^ rows[:, :, row])
        keys = _mix(combined ^ _BAND_SALT ^ salts)
    return keys.view(np.int64)


def link_key_hash(key: str) -> int:
    """A strong-link key as a signed 64-bit key (stored beside the band keys)."""
    return int.from_bytes(hashlib.blake2b(b"link:" + key.encode(), digest_size=8).digest(), "big", signed=True)


def block_of(municipality_code: str | None, parent_orgnr: str | None, county_code: str | None) -> str:
    """The blocking key: the municipality of work, else the employer's top unit, else the county."""
    if municipality_code:
        return f"m{municipality_code}"
    if parent_orgnr:
        return f"o{parent_orgnr}"
    return f"c{county_code or ''}"


def shifts_of(title: str, text: str) -> frozenset[str]:
    """Shifts of the position (day, evening, night): those the title names, else those the text assigns."""
    named = frozenset(name for name, pattern in TITLE_SHIFTS if pattern.search(title))
    return named or frozenset(name for name, pattern in TEXT_SHIFTS if pattern.search(text))


def unit_words(name: str) -> frozenset[str]:
    return frozenset(words(_MUNICIPALITY_NAME.sub(" ", name)))


HIRING_WORDS = ("søker", "søkjer", "ledig")


def opening(text: str) -> list[str]:
    """The lines of running text (headings skipped) that announce the position ("X søker ...", "ledig stilling"),
    else the first one; at most OPENING_LINES."""
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) > _HEADING_MAX or
             line.strip().endswith((".", "!"))]
    hiring = [line for line in lines if any(word in line.lower() for word in HIRING_WORDS)]
    return (hiring or lines)[:OPENING_LINES]


def units_of(employer_name: str | None, text: str) -> tuple[str, ...]:
    """Names of the unit the position is at: the employer name without the municipality, the subject of the sentence
    announcing the position ("Hessa helse- og omsorgssenter har ledig ...") and a name after "ved/til/hos" in it;
    each as its words, sorted and space-joined."""
    names = [employer_name or ""]
    for line in opening(text)[:1]:
        subject = UNIT_SUBJECT.match(line)
        if subject and len(subject.group(1).split()) >= 2 and subject.group(1).split()[0].lower() not in PRONOUNS:
            names.append(subject.group(1))
        names.extend(m.group(1) for m in UNIT_AFTER.finditer(line.split(". ")[0]))
    units = set()
    for name in names:
        found = " ".join(sorted(unit_words(name)))
        if found and found not in GENERIC_SUBJECTS:
            units.add(found)
    return tuple(sorted(units))


def mentions_of(title: str, text: str) -> tuple[str, ...]:
    """Words a unit name of another posting is looked up in: the title's and the opening lines' (not the rest, where
    an employer's boilerplate names its other units and places)."""
    return interned(words(title + " " + " ".join(opening(text))))


def interned(values: Iterable[str]) -> tuple[str, ...]:
    """Sorted unique values, each string interned: a million postings share one copy of each word."""
    return tuple(sys.intern(v) for v in sorted(set(values)))


STRUCTURED_FIELDS = ("employer_orgnr", "employer_parent_orgnr", "municipality_code", "occupation_code",
                     "engagement_type", "job_percent_max", "deadline_date", "positions", "published_at")


@dataclass(frozen=True, slots=True)
class Derived:
    """What is computed from a posting's text once and stored (storage: dedup_signatures)."""

    signature: np.ndarray
    links: frozenset[str]
    shifts: frozenset[str]
    text_length: int
    postal_code: str | None
    units: tuple[str, ...]
    mentions: tuple[str, ...]


def derive(posting, postal_code: str | None) -> Derived:
    """The text-derived values of a posting (any object with the posting columns as attributes)."""
    text = posting.description_text or ""
    links = link_keys(posting.source, posting.source_ad_id, (posting.url, posting.application_url,
                                                             posting.origin_url, text))
    title = " ".join(t for t in (posting.title, posting.job_title) if t)
    stripped = strip_boilerplate(text)
    return Derived(signature=signature_of(text, stripped), links=links, shifts=shifts_of(title, stripped),
                   text_length=len(text), postal_code=postal_code, units=units_of(posting.employer_name, text),
                   mentions=mentions_of(title, text))


def features_of(posting, derived: Derived, block: str | None = None) -> Features:
    """Features of a posting from its columns (any object with them as attributes) and its derived values; `block`
    overrides the block its columns give (the one its stored keys were made with)."""
    return Features(
        posting_id=posting.id, source=posting.source, status=posting.status, published_at=posting.published_at,
        closed_at=posting.closed_at, first_seen_at=posting.first_seen_at,
        title=(posting.title or posting.job_title or "").strip(), municipality_code=posting.municipality_code,
        percent=(posting.job_percent_min, posting.job_percent_max),
        engagement_type=posting.engagement_type, deadline_date=posting.deadline_date, shifts=derived.shifts,
        units=derived.units, mentions=interned(derived.mentions),
        links=derived.links, block=block or block_of(posting.municipality_code, posting.employer_parent_orgnr,
                                                     posting.county_code),
        text_length=derived.text_length,
        structured=sum(getattr(posting, name) is not None for name in STRUCTURED_FIELDS), signature=derived.signature)


WINDOW_DAYS = 120
"""Width of a publication window: band keys are made per block and window, so candidates are postings of one place
published close together, however many years the database holds."""


def window_of(features: Features) -> int:
    published = features.published_at or features.first_seen_at
    return published.toordinal() // WINDOW_DAYS if published else 0


def keys_of(features: Features, windows: tuple[int, ...] = (0,)) -> list[int]:
    """The posting's strong-link keys and LSH band keys for its publication window shifted by each of `windows`.

    Stored: (0,). Two postings published less than WINDOW_DAYS apart are in one window or in neighbouring ones, so
    looking up (-1, 0, 1), or pairing one's (0, 1) with the other's, finds every candidate.
    """
    home = window_of(features)
    bands = [key for shift in windows for key in band_keys(f"{features.block}/{home + shift}", features.signature)]
    return [*bands, *map(link_key_hash, sorted(features.links))]


PAIRING_WINDOWS = (0, 1)
LOOKUP_WINDOWS = (-1, 0, 1)


def candidate_pairs(features: Iterable[Features]) -> set[tuple[int, int]]:
    """Pairs of posting ids (smaller first) that share an LSH band key or a strong-link key (keys_of with
    PAIRING_WINDOWS, computed for all the postings at once)."""
    features = list(features)
    if not features:
        return set()
    blocks = [f"{f.block}/{window_of(f) + shift}" for shift in PAIRING_WINDOWS for f in features]
    bands = band_keys_many(blocks, np.tile(np.stack([f.signature for f in features]), (len(PAIRING_WINDOWS), 1)))
    ids = np.array([f.posting_id for f in features], dtype=np.int64)
    links = [(link_key_hash(link), f.posting_id) for f in features for link in f.links]
    keys = np.r_[bands.ravel(), np.array([key for key, _ in links], dtype=np.int64)]
    owners = np.r_[np.repeat(np.tile(ids, len(PAIRING_WINDOWS)), BANDS), np.array([pid for _, pid in links],
                                                                                  dtype=np.int64)]
    pairs = pairs_from_keys(keys, owners)
    return set(map(tuple, pairs.tolist()))


MAX_BUCKET = 50
"""A key shared by more postings (one text posted very often) yields only pairs of neighbours in id order."""


def pairs_from_keys(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Every pair of ids that share a key, smaller id first, as unique rows of an (n, 2) array (neighbours only for
    a key over MAX_BUCKET).

    Sorting finds the shared keys without a dictionary of every key, and the pairs stay in numpy (made per bucket
    size, never per key): a million postings have tens of millions of candidate pairs.
    """
    empty = np.zeros((0, 2), dtype=np.int64)
    if len(keys) < 2:
        return empty
    order = np.lexsort((ids, keys))
    keys, ids = keys[order], ids[order]
    distinct = np.r_[True, (keys[1:] != keys[:-1]) | (ids[1:] != ids[:-1])]
    keys, ids = keys[distinct], ids[distinct]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    chunks = [empty]
    for size in set(sizes[(sizes >= 2) & (sizes <= MAX_BUCKET)].tolist()):
        first, second = np.triu_indices(size, k=1)
        at = starts[sizes == size][:, None]
        chunks.append(np.column_stack(((ids[at + first]).ravel(), (ids[at + second]).ravel())))
    big = np.flatnonzero(sizes > MAX_BUCKET)
    if len(big):
        members = np.repeat(starts[big], sizes[big]) + _ranges(sizes[big])
        inner = np.r_[members[1:] == members[:-1] + 1, False] & np.r_[np.diff(np.repeat(big, sizes[big])) == 0, False]
        chunks.append(np.column_stack((ids[members[inner]], ids[members[inner] + 1])))
    pairs = np.sort(np.concatenate(chunks), axis=1)
    if not len(pairs):
        return empty
    if pairs.min() >= 0 and pairs.max() < 2 ** 31:
        return pairs_of_codes(np.unique(pair_codes(pairs)))
    return np.unique(pairs, axis=0)


def pair_codes(pairs: np.ndarray) -> np.ndarray:
    """(id, id) pairs of ids in [0, 2**31) as one int64 each, in the pairs' order: sorting and deduplicating a 1-D
    array of codes takes far less time and memory than np.unique(axis=0) over the pairs."""
    return (pairs[:, 0] << 32) | pairs[:, 1]


def pairs_of_codes(codes: np.ndarray) -> np.ndarray:
    """The (n, 2) pairs of pair_codes."""
    return np.column_stack((codes >> 32, codes & 0xFFFFFFFF))


def _ranges(sizes: np.ndarray) -> np.ndarray:
    """0..size-1 for each size, concatenated."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1]) - np.repeat(ends - sizes, sizes)
