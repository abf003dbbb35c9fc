"""Tokenising for text search: lower-case words, English stop words out, Snowball stems."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves""".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Any:  # a Stemmer.Stemmer
    import Stemmer  # PyStemmer: C Snowball stemmers

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """The search terms of a text, in order, with repeats."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
    return _stemmer().stemWords(words) if words else []


def term_counts(text: str) -> Counter[str]:
    return Counter(terms(text))


def query_terms(text: str) -> list[str]:
    """Distinct terms of a query; falls back to stop words when nothing else is left."""
    found = list(dict.fromkeys(terms(text)))
    if found:
        return found
    words = _WORD.findall(text.lower())
    return list(dict.fromkeys(_stemmer().stemWords(words))) if words else []
