"""Multi-hop questions over a `World`, with gold answers and supporting document ids.

Kinds:
- bridge: a chain of relations from a named entity ("the birthplace of the founder of X"),
  ending in an attribute ("In what year was ... founded?") or in the entity itself ("Which city
  is ...?"). Its hops = the documents that must be read: one per entity whose article states a
  link of the chain.
- comparison: two descriptions of same-typed entities compared on a year ("Who was born earlier,
  A or the mentor of B?"); the answer is the winner's name. Hops = documents on both sides.
Relations are functional, so every description names exactly one entity; comparisons never tie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agentgym.tasks.search.world import OCCUPATIONS, World

# (subject type, relation) -> (object type, noun-phrase templates)
RELATIONS: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("person", "birth_city"): ("city", ["the birthplace of {x}", "the city where {x} was born"]),
    ("person", "employer"): ("org", ["the employer of {x}", "the organization that employed {x}"]),
    ("person", "mentor"): ("person", ["the mentor of {x}", "the person {x} studied under"]),
    ("city", "region"): ("region", ["the region where {x} lies", "the region that contains {x}"]),
    ("region", "capital"): ("city", ["the capital of {x}"]),
    ("org", "founder"): ("person", ["the founder of {x}", "the person who founded {x}"]),
    ("org", "hq"): ("city", ["the city where {x} is headquartered", "the headquarters city of {x}"]),
    ("work", "creator"): ("person", ["the creator of {x}", "the person who made {x}"]),
    ("work", "publisher"): ("org", ["the publisher of {x}", "the organization that published {x}"]),
}
# type -> [(attribute, question templates)]
ATTRIBUTES: dict[str, list[tuple[str, list[str]]]] = {
    "person": [
        ("birth_year", ["In what year was {x} born?", "What is the birth year of {x}?"]),
        ("occupation", ["What was the occupation of {x}?", "What did {x} work as?"]),
    ],
    "city": [("founded", ["In what year was {x} founded?", "When was {x} founded? Give the year."])],
    "region": [
        ("currency", ["What is the currency of {x}?"]),
        ("language", ["What language is mainly spoken in {x}?"]),
    ],
    "org": [("founded", ["In what year was {x} founded?", "What year was {x} founded in?"])],
    "work": [("year", ["In what year was {x} completed?"])],
}
NAME_QUESTIONS = {
    "person": ["Who was {x}?", "Name {x}."],
    "city": ["What is the name of {x}?", "Name {x}."],
    "region": ["What is the name of {x}?", "Name {x}."],
    "org": ["What is the name of {x}?", "Name {x}."],
    "work": ["What is the title of {x}?"],
}
# type -> (year attribute, "earlier" question, "later" question)
COMPARABLE = {
    "person": ("birth_year", "Who was born earlier, {a} or {b}?", "Who was born later, {a} or {b}?"),
    "org": ("founded", "Which was founded earlier, {a} or {b}?", "Which was founded later, {a} or {b}?"),
    "city": (
        "founded",
        "Which city was founded earlier, {a} or {b}?",
        "Which city was founded later, {a} or {b}?",
    ),
    "work": ("year", "Which was completed earlier, {a} or {b}?", "Which was completed later, {a} or {b}?"),
}
TYPE_WEIGHTS = {"person": 0.3, "city": 0.1, "region": 0.05, "org": 0.25, "work": 0.3}


@dataclass
class Question:
    id: str
    question: str
    golden_answers: list[str]
    supporting_doc_ids: list[str]
    hops: int
    kind: str  # "bridge" | "comparison"
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "golden_answers": self.golden_answers,
            "supporting_doc_ids": self.supporting_doc_ids,
            "metadata": {"hops": self.hops, "kind": self.kind, **self.metadata},
        }


def relation_target(world: World, etype: str, rel: str, i: int) -> int:
    """The object of `rel` for entity `i` of `etype` (-1 when it has none)."""
    arr = {
        ("person", "birth_city"): world.person_birth_city,
        ("person", "employer"): world.person_employer,
        ("person", "mentor"): world.person_mentor,
        ("city", "region"): world.city_region,
        ("region", "capital"): world.region_capital,
        ("org", "founder"): world.org_founder,
        ("org", "hq"): world.org_hq,
        ("work", "creator"): world.work_creator,
        ("work", "publisher"): world.work_publisher,
    }[(etype, rel)]
    return int(arr[i])


def attribute_value(world: World, etype: str, attr: str, i: int) -> str:
    if etype == "person" and attr == "occupation":
        return OCCUPATIONS[int(world.person_occupation[i])]
    if etype == "region":
        return (world.region_currency if attr == "currency" else world.region_language)[i]
    arr = {
        ("person", "birth_year"): world.person_birth_year,
        ("city", "founded"): world.city_founded,
        ("org", "founded"): world.org_founded,
        ("work", "year"): world.work_year,
    }[(etype, attr)]
    return str(int(arr[i]))


class QuestionGenerator:
    """Draws questions from a world; every draw is a pure function of (world, seed)."""

    def __init__(self, world: World, seed: int = 0) -> None:
        self.world = world
        self.rng = np.random.default_rng([world.seed, seed, 11])
        self.types = list(TYPE_WEIGHTS)
        self.type_p = np.array([TYPE_WEIGHTS[t] for t in self.types])

    def _choice(self, items: list[Any]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def _chain(
        self, n_rel: int, start_type: str | None = None
    ) -> tuple[list[tuple[str, int]], list[str]] | None:
        """A random walk of `n_rel` relations over distinct entities: ([(type, index)...], [relations])."""
        w = self.world
        etype = start_type or self.types[int(self.rng.choice(len(self.types), p=self.type_p))]
        node = (etype, int(self.rng.integers(w.count(etype))))
        nodes, rels = [node], []
        for _ in range(n_rel):
            options = [rel for (t, rel) in RELATIONS if t == node[0]]
            rel = self._choice(options)
            target = relation_target(w, node[0], rel, node[1])
            if target < 0:
                return None
            node = (RELATIONS[(node[0], rel)][0], target)
            if node in nodes:
                return None
            nodes.append(node)
            rels.append(rel)
        return nodes, rels

    def _describe(self, nodes: list[tuple[str, int]], rels: list[str]) -> str:
        text = self.world.names[nodes[0][0]][nodes[0][1]]
        for (etype, _), rel in zip(nodes[:-1], rels, strict=True):
            text = self._choice(RELATIONS[(etype, rel)][1]).format(x=text)
        return text

    def _doc(self, node: tuple[str, int]) -> str:
        return self.world.doc_id(node[0], node[1])

    def bridge(self, hops: int) -> Question | None:
        """A chain question whose answer needs `hops` documents."""
        end_with_name = hops >= 1 and bool(self.rng.random() < 0.35)
        n_rel = hops if end_with_name else hops - 1
        if n_rel < 0 or (end_with_name and n_rel == 0):
            return None
        chain = self._chain(n_rel)
        if chain is None:
            return None
        nodes, rels = chain
        desc = self._describe(nodes, rels)
        last_type, last = nodes[-1]
        if end_with_name:
            question = self._choice(NAME_QUESTIONS[last_type]).format(x=desc)
            answer = self.world.names[last_type][last]
            support = nodes[:-1]
            meta = {"answer_type": "name", "relations": rels}
        else:
            attr, templates = self._choice(ATTRIBUTES[last_type])
            question = self._choice(templates).format(x=desc)
            answer = attribute_value(self.world, last_type, attr, last)
            support = nodes
            meta = {"answer_type": attr, "relations": rels}
        question = question[0].upper() + question[1:]
        docs = [self._doc(n) for n in support]
        return Question("", question, [answer], docs, len(docs), "bridge", meta)

    def comparison(self, hops: int) -> Question | None:
        """Two same-typed entities, each named or described by one relation, compared on a year."""
        if hops not in (2, 3, 4):
            return None
        etype = self._choice([t for t in COMPARABLE if hops == 2 or t != "work"])  # nothing leads to a work
        attr, earlier_q, later_q = COMPARABLE[etype]
        sides = []
        extra = [hops - 2 >= 1, hops - 2 == 2]
        if hops == 3 and self.rng.random() < 0.5:
            extra.reverse()
        for use_relation in extra:
            if use_relation:
                # a described side: some entity whose relation leads to an `etype` entity
                rel_options = [(t, r) for (t, r), (o, _) in RELATIONS.items() if o == etype]
                t, r = self._choice(rel_options)
                src = (t, int(self.rng.integers(self.world.count(t))))
                target = relation_target(self.world, t, r, src[1])
                if target < 0:
                    return None
                nodes = [src, (etype, target)]
                sides.append((nodes, [r]))
            else:
                sides.append(([(etype, int(self.rng.integers(self.world.count(etype))))], []))
        (na, ra), (nb, rb) = sides
        a_end, b_end = na[-1], nb[-1]
        if a_end == b_end or len({*na, *nb}) != len(na) + len(nb):
            return None
        ya = int(attribute_value(self.world, etype, attr, a_end[1]))
        yb = int(attribute_value(self.world, etype, attr, b_end[1]))
        if ya == yb:
            return None
        earlier = bool(self.rng.random() < 0.5)
        winner = a_end if (ya < yb) == earlier else b_end
        question = (earlier_q if earlier else later_q).format(
            a=self._describe(na, ra), b=self._describe(nb, rb)
        )
        docs = [self._doc(n) for n in na + nb]
        meta = {"answer_type": "name", "compared": attr, "direction": "earlier" if earlier else "later"}
        return Question(
            "", question, [self.world.names[etype][winner[1]]], docs, len(docs), "comparison", meta
        )

    def generate(
        self,
        n: int,
        hops: dict[int, float] | None = None,
        comparison_share: float = 0.25,
        id_prefix: str = "q",
    ) -> list[Question]:
        """`n` distinct questions; `hops` gives the share of each hop count (1-4)."""
        hops = hops or {1: 0.2, 2: 0.35, 3: 0.3, 4: 0.15}
        keys = sorted(hops)
        probs = np.array([hops[k] for k in keys], dtype=float)
        probs /= probs.sum()
        out: list[Question] = []
        seen: set[str] = set()
        attempts = 0
        while len(out) < n:
            attempts += 1
            if attempts > 50 * n + 1000:
                raise RuntimeError(f"could only draw {len(out)} of {n} questions; the world is too small")
            h = keys[int(self.rng.choice(len(keys), p=probs))]
            if h >= 2 and self.rng.random() < comparison_share:
                q = self.comparison(h)
            else:
                q = self.bridge(h)
            if q is None or q.question in seen:
                continue
            seen.add(q.question)
            q.id = f"{id_prefix}{len(out):06d}"
            out.append(q)
        return out
