"""A fast, deterministic word tokenizer for BM25: lowercase, `\\w\\w+` words, English stopwords,
optional Snowball stemming (PyStemmer). Stems are cached per distinct word, so tokenizing a large
corpus costs one regex pass plus dictionary look-ups."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_WORD = re.compile(r"(?u)\b\w\w+\b")


def _bm25s_stopwords() -> tuple[str, ...]:
    """bm25s's English list, read from its data module without importing bm25s (about 0.1 s)."""
    import importlib.util
    import sys

    if "bm25s" in sys.modules:
        from bm25s.stopwords import STOPWORDS_EN

        return tuple(STOPWORDS_EN)
    spec = importlib.util.find_spec("bm25s")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("bm25s is not installed")
    path = Path(spec.submodule_search_locations[0]) / "stopwords.py"
    module_spec = importlib.util.spec_from_file_location("_agentgym_bm25s_stopwords", path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot read {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return tuple(module.STOPWORDS_EN)


def english_stopwords() -> frozenset[str]:
    try:
        return frozenset(_bm25s_stopwords())
    except (ImportError, OSError, AttributeError):  # a short built-in list when bm25s is absent
        return frozenset(
            "a an and are as at be but by for if in into is it no not of on or such that the their then "
            "there these they this to was will with what which who whom when where why how".split()
        )


class WordTokenizer:
    """`stemmer`: a Snowball language name ("english"), or None for no stemming."""

    def __init__(self, stemmer: str | None = "english", stopwords: bool = True) -> None:
        self.stemmer_name = stemmer
        self.use_stopwords = stopwords
        self.stopwords = english_stopwords() if stopwords else frozenset()
        self._stem_fn = None
        if stemmer:
            try:
                import Stemmer  # PyStemmer

                self._stem_fn = Stemmer.Stemmer(stemmer).stemWord
            except ImportError:
                self.stemmer_name = None
        self._cache: dict[str, str | None] = {}

    def config(self) -> dict:
        return {"stemmer": self.stemmer_name, "stopwords": self.use_stopwords}

    def _norm(self, word: str) -> str | None:
        if word in self.stopwords:
            return None
        return self._stem_fn(word) if self._stem_fn is not None else word

    def tokenize(self, text: str) -> list[str]:
        cache = self._cache
        out: list[str] = []
        for word in _WORD.findall(text.lower()):
            term = cache.get(word, "")
            if term == "":
                term = cache[word] = self._norm(word)
            if term is not None:
                out.append(term)
        return out

    def tokenize_to_ids(self, texts: Iterable[str], vocab: dict[str, int], grow: bool) -> list[list[int]]:
        """Token ids per text; new terms get new ids when `grow`, else they are dropped."""
        word_ids = _WordIds(self, vocab, grow)  # word -> term id, or -1 (stopword / unknown term)
        lookup = word_ids.__getitem__
        findall = _WORD.findall
        return [[i for i in map(lookup, findall(text.lower())) if i >= 0] for text in texts]


class _WordIds(dict):
    """word -> term id, filled on first sight of a word (one dict look-up per word after that)."""

    def __init__(self, tokenizer: WordTokenizer, vocab: dict[str, int], grow: bool) -> None:
        super().__init__()
        self._tokenizer = tokenizer
        self._vocab = vocab
        self._grow = grow

    def __missing__(self, word: str) -> int:
        term = self._tokenizer._norm(word)
        if term is None:
            tid = -1
        else:
            found = self._vocab.get(term)
            if found is None and self._grow:
                found = self._vocab[term] = len(self._vocab)
            tid = -1 if found is None else found
        self[word] = tid
        return tid
