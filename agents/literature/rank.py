"""Which papers are closest to a text: TF-IDF cosine over their titles and abstracts (no model, no network)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from runs.models import Paper

_WORD = re.compile(r"[a-z][a-z0-9\-]{2,}")
_STOP = frozenset("""
about above after again against also among and any are because been before being below between both but
can could does doing down during each few for from further had has have having here how into its itself
just more most new not now off once only other our out over own same should show shows shown some such
than that the their them then there these they this those through too under until using very via was were
what when where which while who why will with within without would your paper study propose proposed
approach method methods results result based use used
""".split())


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def closest(text: str, papers: Sequence[Paper], k: int) -> list[tuple[Paper, float]]:
    """The ``k`` papers whose title and abstract share the most weighted words with ``text``, best first
    (ties keep the search's order)."""
    docs = [Counter(words(f"{p.title} {p.title} {p.abstract or ''}")) for p in papers]
    n = len(docs)
    if not n:
        return []
    df = Counter(w for d in docs for w in d)
    idf = {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}
    query = Counter(words(text))

    def vector(counts: Counter[str]) -> dict[str, float]:
        return {w: (1 + math.log(c)) * idf.get(w, math.log(1 + n) + 1.0) for w, c in counts.items()}

    q = vector(query)
    q_norm = math.sqrt(sum(v * v for v in q.values())) or 1.0
    scored = []
    for i, d in enumerate(docs):
        v = vector(d)
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        scored.append((sum(q[w] * v[w] for w in q if w in v) / (q_norm * norm), i))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [(papers[i], score) for score, i in scored[:k]]
