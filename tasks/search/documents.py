"""Write a `World` up as documents: one encyclopedia-style article per entity.

Each fact has several sentence templates; the template, the order of the non-lead sentences and
a few neutral filler sentences are drawn per document, so the corpus is varied in wording while
every fact stays stated exactly once, in its subject's article.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np

from agentgym.retrieval.corpus import Corpus
from agentgym.tasks.search.world import ENTITY_TYPES, OCCUPATIONS, ORG_KINDS, WORK_KINDS, World

PRONOUNS = (("She", "her", "was"), ("He", "his", "was"), ("They", "their", "were"))

PERSON_LEAD = [
    "{N} was a {occ}.",
    "{N} worked as a {occ}.",
    "By trade, {N} was a {occ}.",
    "{N} was known in {poss} day as a {occ}.",
]
PERSON_BIRTH = [
    "{P} {was} born in {city} in {year}.",
    "{N} was born in {year} in the city of {city}.",
    "Born in {city} in {year}, {N} spent {poss} early years there.",
    "The records of {city} list the birth of {N} in {year}.",
]
PERSON_EMPLOYER = [
    "{P} {was} employed by {org}.",
    "For most of {poss} career, {N} worked for {org}.",
    "{org} employed {N} for many years.",
]
PERSON_MENTOR = [
    "{P} studied under {mentor}.",
    "The mentor of {N} was {mentor}.",
    "{N} trained as an apprentice of {mentor}.",
]
PERSON_FILLER = [
    "{P} kept detailed notebooks throughout {poss} life.",
    "Contemporaries described {N} as patient and exacting.",
    "Several letters written by {N} survive in private collections.",
    "{P} rarely travelled far from home.",
    "In later life {N} took up gardening.",
]
CITY_LEAD = ["{C} is a city in {region}.", "{C} lies in {region}.", "The city of {C} is located in {region}."]
CITY_FOUNDED = [
    "{C} was founded in {year}.",
    "The city was founded in {year}.",
    "Records date the founding of {C} to {year}.",
]
CITY_CAPITAL = ["{C} is the capital of {region}.", "{C} serves as the capital of {region}."]
CITY_FILLER = [
    "Its old market square is paved with grey stone.",
    "A river crossing made the town an early stop for traders.",
    "The city holds a lantern festival each autumn.",
    "Its harbour silted up long ago.",
]
REGION_LEAD = ["{R} is a region whose capital is {capital}.", "The capital of {R} is {capital}."]
REGION_CURRENCY = ["The currency of {R} is the {currency}.", "People in {R} pay with the {currency}."]
REGION_LANGUAGE = [
    "The main language spoken in {R} is {language}.",
    "{language} is the principal language of {R}.",
]
REGION_FILLER = ["The region is crossed by low hills and slow rivers.", "Its winters are long and dry."]
ORG_LEAD = ["{O} is a {kind}.", "{O} is a {kind} with a long history."]
ORG_FOUNDED = [
    "{O} was founded in {year} by {founder}.",
    "{founder} founded {O} in {year}.",
    "Founded by {founder} in {year}, {O} grew slowly at first.",
]
ORG_HQ = [
    "{O} is headquartered in {city}.",
    "The headquarters of {O} are in {city}.",
    "{O} is based in {city}.",
]
ORG_FILLER = [
    "It keeps an archive of its early ledgers.",
    "Its emblem is a silver key.",
    "It has changed hands twice.",
]
WORK_LEAD = [
    "{W} is a {kind} by {creator}.",
    "{creator} created the {kind} {W}.",
    "{W} is a {kind} made by {creator}.",
]
WORK_YEAR = [
    "{W} was completed in {year}.",
    "The {kind} was completed in {year}.",
    "Work on {W} was completed in {year}.",
]
WORK_PUBLISHER = [
    "It was published by {org}.",
    "{org} published {W}.",
    "The first edition of {W} was issued by {org}.",
]
WORK_FILLER = [
    "Critics were divided at first.",
    "Only a few early copies survive.",
    "It has been revised twice.",
]


def _cap(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:] if sentence and sentence[0].islower() else sentence


class _Writer:
    def __init__(self, world: World, seed: int) -> None:
        # plain lists: indexing them is much faster than indexing numpy arrays one scalar at a time
        fields = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in vars(world).items()}
        self.w = SimpleNamespace(**fields)
        self.rng = np.random.default_rng([world.seed, seed, 7])

    def _pick(self, templates: list[str], r: float) -> str:
        return templates[int(r * len(templates))]

    def _compose(
        self, lead: str, facts: list[str], fillers: list[str], u: list[float], f: dict | None = None
    ) -> str:
        """Lead sentence first, then facts and 0-2 fillers in a drawn order."""
        body = list(facts)
        first = int(u[1] * len(fillers))
        picks = [first, (first + 1 + int(u[2] * (len(fillers) - 1))) % len(fillers)]  # two distinct
        for j in range(int(u[0] * 3)):
            filler = fillers[picks[j]]
            body.append(filler.format(**f) if f is not None else filler)
        keys = u[3 : 3 + len(body)]
        order = sorted(range(len(body)), key=keys.__getitem__)
        return " ".join([_cap(lead)] + [_cap(body[i]) for i in order])

    def person(self, i: int, u: list[float]) -> str:
        w = self.w
        subj, poss, was = PRONOUNS[int(w.person_pronoun[i])]
        f = {
            "N": w.names["person"][i],
            "P": subj,
            "poss": poss,
            "was": was,
            "occ": OCCUPATIONS[int(w.person_occupation[i])],
            "city": w.names["city"][int(w.person_birth_city[i])],
            "year": int(w.person_birth_year[i]),
            "org": w.names["org"][int(w.person_employer[i])],
        }
        facts = [self._pick(PERSON_BIRTH, u[10]).format(**f), self._pick(PERSON_EMPLOYER, u[11]).format(**f)]
        if w.person_mentor[i] >= 0:
            f["mentor"] = w.names["person"][int(w.person_mentor[i])]
            facts.append(self._pick(PERSON_MENTOR, u[12]).format(**f))
        return self._compose(self._pick(PERSON_LEAD, u[13]).format(**f), facts, PERSON_FILLER, u, f)

    def city(self, i: int, u: list[float]) -> str:
        w = self.w
        region = int(w.city_region[i])
        f = {"C": w.names["city"][i], "region": w.names["region"][region], "year": int(w.city_founded[i])}
        facts = [self._pick(CITY_FOUNDED, u[10]).format(**f)]
        if int(w.region_capital[region]) == i:
            facts.append(self._pick(CITY_CAPITAL, u[11]).format(**f))
        return self._compose(self._pick(CITY_LEAD, u[13]).format(**f), facts, CITY_FILLER, u)

    def region(self, i: int, u: list[float]) -> str:
        w = self.w
        f = {
            "R": w.names["region"][i],
            "capital": w.names["city"][int(w.region_capital[i])],
            "currency": w.region_currency[i],
            "language": w.region_language[i],
        }
        facts = [
            self._pick(REGION_CURRENCY, u[10]).format(**f),
            self._pick(REGION_LANGUAGE, u[11]).format(**f),
        ]
        return self._compose(self._pick(REGION_LEAD, u[13]).format(**f), facts, REGION_FILLER, u)

    def org(self, i: int, u: list[float]) -> str:
        w = self.w
        f = {
            "O": w.names["org"][i],
            "kind": ORG_KINDS[int(w.org_kind[i])],
            "year": int(w.org_founded[i]),
            "founder": w.names["person"][int(w.org_founder[i])],
            "city": w.names["city"][int(w.org_hq[i])],
        }
        facts = [self._pick(ORG_FOUNDED, u[10]).format(**f), self._pick(ORG_HQ, u[11]).format(**f)]
        return self._compose(self._pick(ORG_LEAD, u[13]).format(**f), facts, ORG_FILLER, u)

    def work(self, i: int, u: list[float]) -> str:
        w = self.w
        f = {
            "W": w.names["work"][i],
            "kind": WORK_KINDS[int(w.work_kind[i])],
            "year": int(w.work_year[i]),
            "creator": w.names["person"][int(w.work_creator[i])],
            "org": w.names["org"][int(w.work_publisher[i])],
        }
        facts = [self._pick(WORK_YEAR, u[10]).format(**f), self._pick(WORK_PUBLISHER, u[11]).format(**f)]
        return self._compose(self._pick(WORK_LEAD, u[13]).format(**f), facts, WORK_FILLER, u)


def iter_documents(world: World) -> Iterator[tuple[str, str, str]]:
    """(doc_id, title, text) for every entity, in document-id order."""
    writer = _Writer(world, 0)
    items: list[tuple[int, str, int]] = []
    for etype in ENTITY_TYPES:
        items.extend((int(world.doc_ids[etype][i]), etype, i) for i in range(world.count(etype)))
    items.sort()
    uniforms = writer.rng.random((len(items), 16)).tolist()
    methods = {t: getattr(writer, t) for t in ENTITY_TYPES}
    for (number, etype, i), u in zip(items, uniforms, strict=True):
        text = methods[etype](i, u)
        yield f"d{number:07d}", world.names[etype][i], text


def world_corpus(world: World) -> Corpus:
    ids, titles, texts = [], [], []
    for doc_id, title, text in iter_documents(world):
        ids.append(doc_id)
        titles.append(_cap(title))
        texts.append(text)
    return Corpus(ids, titles, texts)
