"""A fake literature service on 127.0.0.1 answering like OpenAlex, Semantic Scholar, arXiv and Crossref.

    with LiteratureServer() as lit:
        config = LiteratureConfig(urls=lit.urls, min_interval=lit.no_wait)
        lit.fail("semantic_scholar", Fail(429, {"Retry-After": "1"}))   # the next S2 request gets a 429
        lit.down.add("openalex")                                          # every OpenAlex request gets a 503
        ... lit.requests  # (backend, path, params, headers, time) of every request

Each backend lives under its own prefix (``/openalex``, ``/s2``, ``/arxiv``, ``/crossref``) and answers
with bodies shaped like the real API's (OpenAlex's inverted-index abstracts, Semantic Scholar's
``data`` list, arXiv's Atom feed, Crossref's ``message.items`` with JATS abstracts). A query
matches the papers sharing a significant word with it, most shared words first. arXiv knows only
papers with an arXiv id, Crossref only those with a DOI.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import pytest

PREFIX = {"openalex": "/openalex", "semantic_scholar": "/s2", "arxiv": "/arxiv", "crossref": "/crossref"}


@dataclass(frozen=True)
class FakePaper:
    title: str
    authors: tuple[str, ...]
    year: int
    abstract: str
    venue: str = ""
    doi: str | None = None
    arxiv: str | None = None
    openalex: str = ""
    s2: str = ""
    citations: int = 0


CORPUS: tuple[FakePaper, ...] = (
    FakePaper("Sharpness-Aware Minimization for Efficiently Improving Generalization",
              ("Pierre Foret", "Ariel Kleiner", "Hossein Mobahi", "Behnam Neyshabur"), 2020,
              "In today's heavily overparameterized models, the value of the training loss provides few guarantees "
              "on model generalization ability. We propose Sharpness-Aware Minimization (SAM), which seeks "
              "parameters that lie in neighborhoods having uniformly low loss.",
              "International Conference on Learning Representations", None, "2010.01412", "W3093353926",
              "a1d2f2bd1e7fc1a2c4e6ad1c3f1f2a3b4c5d6e7f", 1500),
    FakePaper("On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima",
              ("Nitish Shirish Keskar", "Dheevatsa Mudigere", "Jorge Nocedal", "Mikhail Smelyanskiy",
               "Ping Tak Peter Tang"), 2016,
              "The stochastic gradient descent method and its variants are algorithms of choice for many deep "
              "learning tasks. We investigate the cause of the generalization drop in the large-batch regime: "
              "large-batch methods tend to converge to sharp minimizers of the training function.",
              "International Conference on Learning Representations", None, "1609.04836", "W2963091558",
              "8ec5896b4490c6e127d1718ffc36a3439d84cb81", 2800),
    FakePaper("Deep learning", ("Yann LeCun", "Yoshua Bengio", "Geoffrey Hinton"), 2015,
              "Deep learning allows computational models that are composed of multiple processing layers to learn "
              "representations of data with multiple levels of abstraction.",
              "Nature", "10.1038/nature14539", None, "W1919521931", "a4cec122a08216fe8a3bc19b22e78fbaea096256", 60000),
    FakePaper("Visualizing the Loss Landscape of Neural Nets",
              ("Hao Li", "Zheng Xu", "Gavin Taylor", "Christoph Studer", "Tom Goldstein"), 2018,
              "Neural network training relies on our ability to find good minimizers of highly non-convex loss "
              "functions. We explore the structure of neural loss functions and the effect of loss landscapes on "
              "generalization, using filter normalization to visualize sharpness.",
              "Neural Information Processing Systems", "10.5555/3327345.3327535", "1712.09913", "W2963537428",
              "b5f0a66f9a0d39b6b3cfa4a9c85c2d8c1c1b2a7e", 2500),
    FakePaper("Adam: A Method for Stochastic Optimization", ("Diederik P. Kingma", "Jimmy Ba"), 2014,
              "We introduce Adam, an algorithm for first-order gradient-based optimization of stochastic objective "
              "functions, based on adaptive estimates of lower-order moments.",
              "International Conference on Learning Representations", None, "1412.6980", "W1522301498",
              "a6cb366736791bcccc5c8639de5a8f9636bf87e8", 150000),
    FakePaper("Cyclical Learning Rates for Training Neural Networks", ("Leslie N. Smith",), 2017,
              "This paper describes a new method for setting the learning rate, named cyclical learning rates, "
              "which practically eliminates the need to experimentally find the best values and schedule for the "
              "global learning rates.",
              "IEEE Winter Conference on Applications of Computer Vision", "10.1109/wacv.2017.58", None,
              "W2962711853", "37b5dfe87d82ba8f310155165d5bf841dc92dea2", 3000),
    FakePaper("Ridge Regression: Biased Estimation for Nonorthogonal Problems", ("Arthur E. Hoerl", "Robert W. Kennard"),
              1970, "In multiple regression it is shown that parameter estimates based on minimum residual sum of "
              "squares have a high probability of being unsatisfactory when the prediction vectors are not "
              "orthogonal; ridge regression adds a small positive quantity to the diagonal.",
              "Technometrics", "10.1080/00401706.1970.10488634", None, "W2112796928",
              "c2b6a4d3a4f2b1e0d9c8b7a6f5e4d3c2b1a09f8e", 9000),
)


@dataclass
class Fail:
    """A scripted failure: an HTTP status (with headers and body), or a delay past the client's timeout."""

    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0


@dataclass
class Seen:
    backend: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float


_WORD = re.compile(r"[a-z][a-z0-9\-]{2,}")
_STOP = {"and", "the", "for", "with", "from", "into", "how", "does", "are", "its", "over", "all"}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class LiteratureServer:
    """The fake service, its scripted failures and the requests it received."""

    def __init__(self, papers: tuple[FakePaper, ...] = CORPUS) -> None:
        self.papers = papers
        self.requests: list[Seen] = []
        self.down: set[str] = set()  # backends that answer every request with 503
        self._script: dict[str, list[Fail]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def urls(self) -> dict[str, str]:
        """Base URLs for LiteratureConfig(urls=...)."""
        return {name: self.base + prefix for name, prefix in PREFIX.items()}

    @property
    def no_wait(self) -> dict[str, float]:
        """Minimum intervals of zero, for LiteratureConfig(min_interval=...)."""
        return dict.fromkeys(PREFIX, 0.0)

    def env(self) -> dict[str, str]:
        """Environment variables that point discover at this server."""
        return {f"DISCOVER_{name.upper()}_URL": url for name, url in self.urls.items()}

    def fail(self, backend: str, *fails: Fail) -> None:
        """The next requests to ``backend`` get these failures, in order."""
        with self._lock:
            self._script.setdefault(backend, []).extend(fails)

    def seen(self, backend: str) -> list[Seen]:
        return [r for r in self.requests if r.backend == backend]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.down.clear()

    def start(self) -> LiteratureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LiteratureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers -------------------------------------------------------------------------------

    def match(self, query: str, pool: list[FakePaper]) -> list[FakePaper]:
        want = _words(query)
        scored = [(len(want & _words(f"{p.title} {p.abstract}")), i, p) for i, p in enumerate(pool)]
        return [p for n, _, p in sorted(scored, key=lambda s: (-s[0], s[1])) if n > 0]

    def answer(self, backend: str, path: str, params: dict[str, str]) -> tuple[int, str, str]:
        """(status, content type, body) of a successful answer."""
        if backend == "openalex":
            if path == "/works":
                found = self.match(params.get("search", ""), list(self.papers))[:int(params.get("per-page", 25))]
                return 200, "application/json", json.dumps({
                    "meta": {"count": len(found), "db_response_time_ms": 12, "page": 1,
                             "per_page": int(params.get("per-page", 25)), "groups_count": None},
                    "results": [openalex_work(p) for p in found], "group_by": []})
            ref = unquote(path.removeprefix("/works/"))
            hit = next((p for p in self.papers if p.openalex == ref or (p.doi and ref.lower() == f"doi:{p.doi}")), None)
            return (200, "application/json", json.dumps(openalex_work(hit))) if hit else \
                (404, "application/json", json.dumps({"error": "Not Found", "message": f"'{ref}' not found"}))
        if backend == "semantic_scholar":
            if path == "/graph/v1/paper/search":
                limit = int(params.get("limit", 10))
                found = self.match(params.get("query", ""), list(self.papers))
                body: dict[str, Any] = {"total": len(found), "offset": 0}
                if found:
                    body["data"] = [s2_paper(p) for p in found[:limit]]
                    if len(found) > limit:
                        body["next"] = limit
                return 200, "application/json", json.dumps(body)
            ref = unquote(path.removeprefix("/graph/v1/paper/"))
            hit = next((p for p in self.papers if p.s2 == ref or (p.doi and ref == f"DOI:{p.doi}")
                        or (p.arxiv and ref == f"ARXIV:{p.arxiv}")), None)
            return (200, "application/json", json.dumps(s2_paper(hit))) if hit else \
                (404, "application/json", json.dumps({"error": "Paper not found"}))
        if backend == "arxiv":
            pool = [p for p in self.papers if p.arxiv]
            if params.get("id_list"):
                found = [p for p in pool if p.arxiv == params["id_list"].split("v")[0]]
            else:
                terms = " ".join(t.split(":", 1)[-1] for t in re.split(r"\s+(?:AND|OR)\s+", params.get(
                    "search_query", "")))
                found = self.match(terms, pool)[:int(params.get("max_results", 10))]
            return 200, "application/atom+xml", arxiv_feed(found, params)
        if backend == "crossref":
            pool = [p for p in self.papers if p.doi]
            if path == "/works":
                found = self.match(params.get("query", ""), pool)[:int(params.get("rows", 20))]
                return 200, "application/json", json.dumps({
                    "status": "ok", "message-type": "work-list", "message-version": "1.0.0",
                    "message": {"facets": {}, "total-results": len(found), "items": [crossref_item(p) for p in found],
                                "items-per-page": int(params.get("rows", 20)),
                                "query": {"start-index": 0, "search-terms": params.get("query", "")}}})
            doi = unquote(path.removeprefix("/works/")).lower()
            hit = next((p for p in pool if p.doi == doi), None)
            return (200, "application/json", json.dumps({"status": "ok", "message-type": "work",
                                                          "message-version": "1.0.0", "message": crossref_item(hit)})) \
                if hit else (404, "text/plain", "Resource not found.")
        return 404, "text/plain", "no such backend"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                backend = next((b for b, p in PREFIX.items() if url.path.startswith(p + "/")), "")
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                path = url.path.removeprefix(PREFIX.get(backend, ""))
                with server._lock:
                    server.requests.append(Seen(backend, path, params, {k.lower(): v for k, v in self.headers.items()},
                                                time.monotonic()))
                    scripted = server._script.get(backend, [])
                    fail = scripted.pop(0) if scripted else (Fail(503) if backend in server.down else None)
                if fail is not None:
                    if fail.delay:
                        time.sleep(fail.delay)
                    body = fail.body or (json.dumps({"message": "Too Many Requests", "code": "429"})
                                         if fail.status == 429 else "Service Unavailable")
                    self._send(fail.status, "application/json", body, fail.headers)
                    return
                status, kind, body = server.answer(backend, path, params)
                self._send(status, kind, body, {})

            def _send(self, status: int, kind: str, body: str, headers: dict[str, str]) -> None:
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind + "; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


# -- each API's shapes -----------------------------------------------------------------------------

def openalex_work(p: FakePaper) -> dict[str, Any]:
    index: dict[str, list[int]] = {}
    for i, word in enumerate(p.abstract.split()):
        index.setdefault(word, []).append(i)
    doi = f"https://doi.org/{p.doi}" if p.doi else (f"https://doi.org/10.48550/arxiv.{p.arxiv}" if p.arxiv else None)
    landing = f"https://arxiv.org/abs/{p.arxiv}" if p.arxiv and not p.doi else (f"https://doi.org/{p.doi}"
                                                                                 if p.doi else None)
    return {
        "id": f"https://openalex.org/{p.openalex}", "doi": doi, "title": p.title, "display_name": p.title,
        "publication_year": p.year, "publication_date": f"{p.year}-06-01", "type": "article",
        "ids": {"openalex": f"https://openalex.org/{p.openalex}", **({"doi": doi} if doi else {})},
        "primary_location": {"is_oa": True, "landing_page_url": landing, "pdf_url": None,
                             "source": {"id": "https://openalex.org/S1", "display_name": p.venue or "arXiv",
                                        "type": "journal"}},
        "authorships": [{"author_position": "first" if i == 0 else "middle",
                         "author": {"id": f"https://openalex.org/A{i}", "display_name": a, "orcid": None},
                         "institutions": [], "raw_author_name": a} for i, a in enumerate(p.authors)],
        "cited_by_count": p.citations, "abstract_inverted_index": index,
    }


def s2_paper(p: FakePaper) -> dict[str, Any]:
    ext: dict[str, Any] = {"CorpusId": 10_000 + len(p.title)}
    if p.doi:
        ext["DOI"] = p.doi
    if p.arxiv:
        ext["ArXiv"] = p.arxiv
    return {"paperId": p.s2, "externalIds": ext, "url": f"https://www.semanticscholar.org/paper/{p.s2}",
            "title": p.title, "abstract": p.abstract, "venue": p.venue, "year": p.year,
            "citationCount": p.citations,
            "authors": [{"authorId": str(1000 + i), "name": a} for i, a in enumerate(p.authors)]}


def arxiv_feed(papers: list[FakePaper], params: dict[str, str]) -> str:
    entries = []
    for p in papers:
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in p.authors)
        doi = f'<arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">{escape(p.doi)}</arxiv:doi>' if p.doi else ""
        entries.append(
            f"<entry><id>http://arxiv.org/abs/{p.arxiv}v2</id><updated>{p.year}-07-01T00:00:00Z</updated>"
            f"<published>{p.year}-06-01T17:57:34Z</published><title>{escape(p.title)}</title>"
            f"<summary>  {escape(p.abstract)}\n</summary>{authors}{doi}"
            f'<link href="http://arxiv.org/abs/{p.arxiv}v2" rel="alternate" type="text/html"/>'
            f'<link title="pdf" href="http://arxiv.org/pdf/{p.arxiv}v2" rel="related" type="application/pdf"/>'
            f'<arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.LG" '
            f'scheme="http://arxiv.org/schemas/atom"/><category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>'
            "</entry>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f'<link href="http://arxiv.org/api/query" rel="self" type="application/atom+xml"/>'
            f'<title type="html">ArXiv Query: {escape(params.get("search_query", ""))}</title>'
            "<id>http://arxiv.org/api/fake</id><updated>2026-01-01T00:00:00-05:00</updated>"
            f'<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(papers)}'
            "</opensearch:totalResults>" + "".join(entries) + "</feed>")


def crossref_item(p: FakePaper) -> dict[str, Any]:
    given_family = [a.rsplit(" ", 1) for a in p.authors]
    return {"DOI": p.doi, "title": [p.title], "type": "journal-article", "URL": f"http://dx.doi.org/{p.doi}",
            "author": [{"given": g, "family": f, "sequence": "first" if i == 0 else "additional", "affiliation": []}
                       for i, (g, f) in enumerate(given_family)],
            "container-title": [p.venue] if p.venue else [], "issued": {"date-parts": [[p.year, 6, 1]]},
            "published": {"date-parts": [[p.year, 6, 1]]}, "is-referenced-by-count": p.citations, "score": 12.5,
            "abstract": f"<jats:title>Abstract</jats:title><jats:p>{escape(p.abstract)}</jats:p>"}


# -- pytest fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def literature_server() -> Iterator[LiteratureServer]:
    with LiteratureServer() as server:
        yield server


@pytest.fixture
def lit(literature_server: LiteratureServer) -> Iterator[LiteratureServer]:
    """The session's fake literature service, with no failures scripted and no requests recorded."""
    literature_server.reset()
    yield literature_server
    literature_server.reset()
