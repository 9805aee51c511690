"""A fast, deterministic word tokenizer for BM25: lowercase, `\\w\\w+` words, English stopwords,
optional Snowball stemming (PyStemmer). Stems are cached per distinct word, so tokenizing a large
corpus costs one regex pass plus dictionary look-ups."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"(?u)\b\w\w+\b")


def english_stopwords() -> frozenset[str]:
    try:
        from bm25s.stopwords import STOPWORDS_EN

        return frozenset(STOPWORDS_EN)
    except ImportError:  # a short built-in list when bm25s is absent
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
        word_ids: dict[str, int] = {}  # word -> term id, or -1 (stopword / unknown term)
        result: list[list[int]] = []
        findall = _WORD.findall
        for text in texts:
            words = findall(text.lower())
            get = word_ids.get
            ids = [get(w, -2) for w in words]
            if -2 in ids:
                for w in words:
                    if w not in word_ids:
                        term = self._norm(w)
                        if term is None:
                            word_ids[w] = -1
                            continue
                        tid = vocab.get(term)
                        if tid is None:
                            if grow:
                                tid = vocab[term] = len(vocab)
                            else:
                                tid = -1
                        word_ids[w] = tid
                ids = [word_ids[w] for w in words]
            result.append([i for i in ids if i >= 0])
        return result
