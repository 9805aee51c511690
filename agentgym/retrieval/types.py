"""Shared retrieval types: a document, a search hit, and the `Retriever` protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved document with its score (higher is better) and 0-based rank."""

    doc_id: str
    score: float
    rank: int
    title: str
    text: str

    @property
    def contents(self) -> str:
        """FlashRAG/Search-R1 `contents`: the title on the first line, then the text."""
        return f"{self.title}\n{self.text}" if self.title else self.text

    def to_search_r1(self) -> dict:
        """The document record a Search-R1 retrieval server returns."""
        return {"id": self.doc_id, "contents": self.contents}


@runtime_checkable
class Retriever(Protocol):
    """Anything that ranks corpus documents for a text query."""

    name: str

    def search(self, query: str, k: int = 5) -> list[Hit]: ...

    def batch_search(self, queries: list[str], k: int = 5) -> list[list[Hit]]: ...
