"""A synthetic world of fictional entities, written up as encyclopedia-style documents.

Contamination-free by construction: every name is assembled from invented syllables (and checked
unique), so no pretrained model can know any fact of the world; every answer must be found in the
corpus. Deterministic by seed: the same `(seed, n_docs)` gives the same world, byte for byte.

Entity types and their facts (each entity gets one document stating all of its own facts):
- person: birth year, birth city (city), occupation, employer (organization), mentor (person)
- city: founding year, region (region)
- region: capital (city), currency, language
- organization: founding year, founder (person), headquarters (city), kind
- work: year, creator (person), publisher (organization), kind
Every relation is functional (one value per entity), so chained descriptions such as "the
birthplace of the founder of X" name exactly one entity. Years are kept plausible (founders are
born before their organization is founded, mentors before their students, ...).

Sampling is vectorized with numpy; text is filled from several templates per fact in a shuffled
order, so documents vary in wording and layout. 100k documents take a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ONSETS = (
    "b d f g k l m n p r s t v z th dr kr br st qu sh gr tr fl ch sk pl bl gl sn thr ph w y h j"
).split()
VOWELS = "a e i o u ae ei ou ai ia y oa eu".split()
CODAS = ["", "", "", "n", "r", "l", "s", "th", "m", "x", "nd", "rk", "ll", "sk", "v", "rn", "nt"]
CITY_SUFFIX = ["", "", "", "mere", "holt", "wick", "moor", "gard", "stead", "vale", "brin", "dell", "ford"]
REGION_FORMS = ["{}ia", "{} Reach", "the {} March", "{}land", "the {} Expanse", "{}or", "the {} Coast"]
ORG_KINDS = [
    "shipyard",
    "observatory",
    "publishing house",
    "foundry",
    "trading company",
    "conservatory",
    "botanical society",
    "clockworks",
    "bank",
    "printing guild",
    "glassworks",
    "academy",
]
ORG_FORMS = {
    "shipyard": "{} Shipworks",
    "observatory": "{} Observatory",
    "publishing house": "{} Press",
    "foundry": "{} Foundry",
    "trading company": "{} Trading Company",
    "conservatory": "{} Conservatory",
    "botanical society": "{} Botanical Society",
    "clockworks": "{} Clockworks",
    "bank": "Bank of {}",
    "printing guild": "{} Printers' Guild",
    "glassworks": "{} Glassworks",
    "academy": "{} Academy",
}
OCCUPATIONS = [
    "cartographer",
    "glassblower",
    "astronomer",
    "shipwright",
    "composer",
    "botanist",
    "clockmaker",
    "engraver",
    "archivist",
    "cellist",
    "bookbinder",
    "surveyor",
    "apothecary",
    "lens grinder",
    "weaver",
    "painter",
    "linguist",
    "mathematician",
    "sculptor",
    "playwright",
]
WORK_KINDS = ["novel", "symphony", "atlas", "treatise", "opera", "poem cycle", "painting", "chronicle"]
WORK_FORMS = [
    "The {} Letters",
    "Songs of {}",
    "A History of {}",
    "{} at Dusk",
    "The Lantern of {}",
    "{}",
    "Notes on {}",
    "The {} Variations",
    "Return to {}",
    "The Last {}",
]
CURRENCY_FORMS = ["{} mark", "{} crown", "{} florin", "{} shell", "{} talon"]
LANGUAGE_FORMS = ["{}ic", "{}ese", "{}ish", "{}ian"]

ENTITY_TYPES = ("person", "city", "region", "org", "work")


def _words(rng: np.random.Generator, n: int, syllables: tuple[int, int], taken: set[str]) -> list[str]:
    """`n` distinct capitalized invented words of `syllables` (min, max) syllables, not in `taken`."""
    out: list[str] = []
    while len(out) < n:
        m = int((n - len(out)) * 1.2) + 16
        k = rng.integers(syllables[0], syllables[1] + 1, size=m)
        on = rng.integers(0, len(ONSETS), size=(m, syllables[1]))
        vo = rng.integers(0, len(VOWELS), size=(m, syllables[1]))
        co = rng.integers(0, len(CODAS), size=(m, syllables[1]))
        for i in range(m):
            word = "".join(
                ONSETS[on[i, j]]
                + VOWELS[vo[i, j]]
                + (CODAS[co[i, j]] if j == k[i] - 1 or co[i, j] % 3 == 0 else "")
                for j in range(k[i])
            ).capitalize()
            if len(word) < 4 or word in taken:
                continue
            taken.add(word)
            out.append(word)
            if len(out) == n:
                break
    return out


def _dedupe_across_types(rng: np.random.Generator, lists: list[list[str]], taken: set[str]) -> None:
    """Make every entity name unique across all types (suffixes can make two names coincide)."""
    seen: set[str] = set()
    for names in lists:
        for i, name in enumerate(names):
            while name.lower() in seen:
                name = f"{name} {_words(rng, 1, (2, 2), taken)[0]}"
            seen.add(name.lower())
            names[i] = name


@dataclass
class World:
    """Entities as parallel arrays per type; `docs` maps (type, index) to a document."""

    seed: int
    names: dict[str, list[str]]
    # person
    person_birth_year: np.ndarray
    person_birth_city: np.ndarray
    person_occupation: np.ndarray
    person_employer: np.ndarray
    person_mentor: np.ndarray  # -1: no mentor
    person_pronoun: np.ndarray  # 0 she, 1 he, 2 they
    # city
    city_founded: np.ndarray
    city_region: np.ndarray
    # region
    region_capital: np.ndarray
    region_currency: list[str]
    region_language: list[str]
    # org
    org_founded: np.ndarray
    org_founder: np.ndarray
    org_hq: np.ndarray
    org_kind: np.ndarray
    # work
    work_year: np.ndarray
    work_creator: np.ndarray
    work_publisher: np.ndarray
    work_kind: np.ndarray
    doc_ids: dict[str, np.ndarray] = field(default_factory=dict)  # type -> doc number per entity

    def count(self, etype: str) -> int:
        return len(self.names[etype])

    def doc_id(self, etype: str, index: int) -> str:
        return f"d{int(self.doc_ids[etype][index]):07d}"

    @property
    def n_docs(self) -> int:
        return sum(self.count(t) for t in ENTITY_TYPES)


def type_counts(n_docs: int) -> dict[str, int]:
    """How many entities of each type make up `n_docs` documents."""
    if n_docs < 50:
        raise ValueError("a world needs at least 50 documents")
    regions = max(4, n_docs // 250)
    cities = max(8, n_docs // 12)
    orgs = max(8, n_docs // 7)
    persons = int(n_docs * 0.42)
    works = n_docs - regions - cities - orgs - persons
    return {"person": persons, "city": cities, "region": regions, "org": orgs, "work": works}


def generate_world(n_docs: int = 2000, seed: int = 0) -> World:
    """Sample a world whose documents number exactly `n_docs`."""
    rng = np.random.default_rng(seed)
    c = type_counts(n_docs)
    taken: set[str] = set()
    first = _words(rng, max(64, c["person"] // 4), (2, 2), taken)
    last = _words(rng, c["person"], (2, 3), taken)
    fi = rng.integers(0, len(first), size=c["person"])
    person_names = [f"{first[fi[i]]} {last[i]}" for i in range(c["person"])]
    city_stems = _words(rng, c["city"], (2, 3), taken)
    cs = rng.integers(0, len(CITY_SUFFIX), size=c["city"])
    city_names = [(s + CITY_SUFFIX[j]) if CITY_SUFFIX[j] else s for s, j in zip(city_stems, cs, strict=True)]
    region_stems = _words(rng, c["region"], (2, 2), taken)
    rf = rng.integers(0, len(REGION_FORMS), size=c["region"])
    region_names = [REGION_FORMS[f].format(s) for s, f in zip(region_stems, rf, strict=True)]
    region_currency = [
        CURRENCY_FORMS[int(x)].format(w)
        for w, x in zip(_words(rng, c["region"], (2, 2), taken), rng.integers(0, 5, c["region"]), strict=True)
    ]
    region_language = [
        LANGUAGE_FORMS[int(x)].format(s)
        for s, x in zip(region_stems, rng.integers(0, 4, c["region"]), strict=True)
    ]
    org_kind = rng.integers(0, len(ORG_KINDS), size=c["org"])
    org_stems = _words(rng, c["org"], (2, 3), taken)
    org_names = [ORG_FORMS[ORG_KINDS[k]].format(s) for s, k in zip(org_stems, org_kind, strict=True)]
    work_kind = rng.integers(0, len(WORK_KINDS), size=c["work"])
    work_stems = _words(rng, c["work"], (2, 3), taken)
    wf = rng.integers(0, len(WORK_FORMS), size=c["work"])
    work_names = [WORK_FORMS[f].format(s) for s, f in zip(work_stems, wf, strict=True)]

    _dedupe_across_types(rng, [person_names, city_names, region_names, org_names, work_names], taken)

    # cities, regions
    city_region = rng.integers(0, c["region"], size=c["city"])
    city_region[: c["region"]] = np.arange(c["region"])  # every region has a city
    city_founded = rng.integers(700, 1750, size=c["city"])
    region_capital = np.empty(c["region"], dtype=np.int64)
    order = rng.permutation(c["city"])
    for city in order:  # a random city of each region becomes its capital
        region_capital[city_region[city]] = city

    # persons: sorted by birth year so a mentor is always born earlier than the student
    birth = np.sort(rng.integers(1690, 1960, size=c["person"]))
    perm = rng.permutation(c["person"])  # index -> rank in birth order
    person_birth_year = birth[perm]
    by_rank = np.argsort(perm)  # rank -> person index
    mentor_rank = np.floor(rng.random(c["person"]) * perm * 0.9).astype(np.int64)
    person_mentor = by_rank[mentor_rank]
    ok = (perm >= 20) & (person_birth_year - person_birth_year[person_mentor] >= 12)
    person_mentor = np.where(ok, person_mentor, -1)
    person_birth_city = rng.integers(0, c["city"], size=c["person"])
    person_occupation = rng.integers(0, len(OCCUPATIONS), size=c["person"])
    person_employer = rng.integers(0, c["org"], size=c["person"])
    person_pronoun = rng.choice(3, size=c["person"], p=[0.47, 0.47, 0.06])

    # organizations: founded 25-60 years after the founder's birth, in a city
    org_founder = rng.integers(0, c["person"], size=c["org"])
    org_founded = person_birth_year[org_founder] + rng.integers(25, 61, size=c["org"])
    org_hq = rng.integers(0, c["city"], size=c["org"])

    # works: made 18-60 years after the creator's birth
    work_creator = rng.integers(0, c["person"], size=c["work"])
    work_year = person_birth_year[work_creator] + rng.integers(18, 61, size=c["work"])
    work_publisher = rng.integers(0, c["org"], size=c["work"])

    # document numbers: one shuffled numbering across all entities (ids reveal nothing)
    numbers = rng.permutation(n_docs)
    doc_ids: dict[str, np.ndarray] = {}
    start = 0
    for etype in ENTITY_TYPES:
        doc_ids[etype] = numbers[start : start + c[etype]]
        start += c[etype]

    return World(
        seed=seed,
        names={
            "person": person_names,
            "city": city_names,
            "region": region_names,
            "org": org_names,
            "work": work_names,
        },
        person_birth_year=person_birth_year,
        person_birth_city=person_birth_city,
        person_occupation=person_occupation,
        person_employer=person_employer,
        person_mentor=person_mentor,
        person_pronoun=person_pronoun,
        city_founded=city_founded,
        city_region=city_region,
        region_capital=region_capital,
        region_currency=region_currency,
        region_language=region_language,
        org_founded=org_founded,
        org_founder=org_founder,
        org_hq=org_hq,
        org_kind=org_kind,
        work_year=work_year,
        work_creator=work_creator,
        work_publisher=work_publisher,
        work_kind=work_kind,
        doc_ids=doc_ids,
    )


def world_summary(world: World) -> dict[str, Any]:
    return {"seed": world.seed, "n_docs": world.n_docs, **{t: world.count(t) for t in ENTITY_TYPES}}
