"""A document corpus held in memory, with FlashRAG-style JSONL input and output.

Corpus JSONL (FlashRAG / Search-R1): one object per line, `{"id": ..., "contents": ...}` where
`contents` is the title on the first line (optionally in double quotes) and the text after it.
Records with separate `title` and `text` fields are accepted too.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


class CorpusError(ValueError):
    """A corpus file or record is invalid; the message names file and line."""


def split_contents(contents: str) -> tuple[str, str]:
    """Split FlashRAG `contents` into (title, text); strips the quotes FlashRAG puts on titles."""
    title, sep, text = contents.partition("\n")
    if not sep:
        return "", contents.strip()
    title = title.strip()
    if len(title) >= 2 and title[0] == '"' and title[-1] == '"':
        title = title[1:-1]
    return title, text.strip()


def _open(path: Path, mode: str, gz: bool | None = None) -> IO[str]:
    if path.suffix == ".gz" if gz is None else gz:
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return path.open(mode, encoding="utf-8")


class Corpus:
    """Parallel lists of ids, titles and texts plus an id -> position map."""

    def __init__(self, ids: list[str], titles: list[str], texts: list[str]) -> None:
        if not (len(ids) == len(titles) == len(texts)):
            raise CorpusError("ids, titles and texts must have the same length")
        self.ids = list(ids)
        self.titles = list(titles)
        self.texts = list(texts)
        self.position: dict[str, int] = {}
        for i, doc_id in enumerate(self.ids):
            if doc_id in self.position:
                raise CorpusError(f"duplicate document id {doc_id!r}")
            self.position[doc_id] = i

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], source: str = "<records>") -> Corpus:
        ids: list[str] = []
        titles: list[str] = []
        texts: list[str] = []
        for line_no, rec in enumerate(records, start=1):
            if not isinstance(rec, dict) or "id" not in rec:
                raise CorpusError(f"{source}:{line_no}: a corpus record needs an 'id'")
            if "contents" in rec:
                title, text = split_contents(str(rec["contents"]))
                title = str(rec.get("title", title))
            elif "text" in rec:
                title, text = str(rec.get("title", "")), str(rec["text"])
            else:
                raise CorpusError(f"{source}:{line_no}: a corpus record needs 'contents' or 'text'")
            ids.append(str(rec["id"]))
            titles.append(title)
            texts.append(text)
        return cls(ids, titles, texts)

    @classmethod
    def load_jsonl(cls, path: str | Path) -> Corpus:
        path = Path(path)
        if not path.exists():
            raise CorpusError(f"corpus file not found: {path}")

        def records() -> Iterator[dict[str, Any]]:
            with _open(path, "r") as handle:
                for line_no, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise CorpusError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None

        return cls.from_records(records(), source=str(path))

    def save_jsonl(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with _open(tmp, "w", gz=path.suffix == ".gz") as handle:
            for doc_id, title, text in zip(self.ids, self.titles, self.texts, strict=True):
                handle.write(json.dumps({"id": doc_id, "contents": f"{title}\n{text}"}, ensure_ascii=False))
                handle.write("\n")
        tmp.replace(path)
        return path

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.position

    def get(self, doc_id: str) -> tuple[str, str]:
        """(title, text) of a document; KeyError if absent."""
        i = self.position[doc_id]
        return self.titles[i], self.texts[i]

    def index_texts(self) -> list[str]:
        """What retrievers index: title and text together."""
        return [f"{t}\n{x}" if t else x for t, x in zip(self.titles, self.texts, strict=True)]
