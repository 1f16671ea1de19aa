"""How the literature client behaves: which backends in which order, how polite, offline or not."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

BackendName = Literal["openalex", "semantic_scholar", "arxiv", "crossref"]
BACKENDS: tuple[BackendName, ...] = ("openalex", "semantic_scholar", "arxiv", "crossref")
ALIASES = {"s2": "semantic_scholar", "semanticscholar": "semantic_scholar", "semantic-scholar": "semantic_scholar"}
# Seconds between two requests to one backend, from each service's published limits for
# clients without a key: arXiv asks for one request every 3 s; Semantic Scholar's shared pool
# is about 1 request a second; OpenAlex allows 10 a second, Crossref's public pool a few.
MIN_INTERVAL: dict[str, float] = {"openalex": 0.2, "semantic_scholar": 1.1, "arxiv": 3.0, "crossref": 0.25}
DEFAULT_URLS: dict[str, str] = {
    "openalex": "https://api.openalex.org",
    "semantic_scholar": "https://api.semanticscholar.org",
    "arxiv": "https://export.arxiv.org",
    "crossref": "https://api.crossref.org",
}


class LiteratureConfigError(ValueError):
    """A literature setting is wrong; the message names it."""


class LiteratureConfig(BaseModel):
    """Backends in fallback order and how patient to be with each."""

    model_config = ConfigDict(extra="forbid")

    backends: list[BackendName] = Field(default_factory=lambda: list(BACKENDS), min_length=1)
    offline: bool = False  # answer from the cache only, never the network
    urls: dict[str, str] = Field(default_factory=dict)  # base URL per backend (mirrors, tests)
    min_interval: dict[str, float] = Field(default_factory=dict)  # seconds between requests, per backend
    timeout: float = Field(default=20.0, gt=0)  # seconds per request
    max_retries: int = Field(default=3, ge=0, le=10)  # after the first attempt, on 429, 5xx and network errors
    backoff: float = Field(default=2.0, ge=0)  # first wait in seconds without a Retry-After, doubled each retry
    max_wait: float = Field(default=60.0, ge=0)  # the longest Retry-After honoured; longer means: fail over
    max_failures: int = Field(default=2, ge=1)  # consecutive failed searches before a backend is skipped
    skip_for: float = Field(default=600.0, ge=0)  # seconds a failing backend is skipped
    max_age: float | None = Field(default=None, gt=0)  # seconds a cached query stays fresh; None: for ever
    max_bytes: int = Field(default=5_000_000, ge=1024)  # a larger response is refused
    mailto: str | None = None  # an e-mail address: OpenAlex's and Crossref's polite pools

    @field_validator("backends", mode="before")
    @classmethod
    def _names(cls, v: object) -> object:
        if isinstance(v, str):
            v = [part for part in v.split(",") if part.strip()]
        if isinstance(v, list):
            v = [ALIASES.get(str(x).strip().lower(), str(x).strip().lower()) for x in v]
        return v

    def url(self, backend: str) -> str:
        return (self.urls.get(backend) or DEFAULT_URLS[backend]).rstrip("/")

    def interval(self, backend: str) -> float:
        return self.min_interval.get(backend, MIN_INTERVAL[backend])

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> LiteratureConfig:
        """Settings from the environment, then ``overrides`` (flags).

        ``DISCOVER_LITERATURE``: a comma-separated backend order, or ``offline`` (cache only);
        ``DISCOVER_<BACKEND>_URL``: a base URL; ``DISCOVER_MAILTO``: the address for polite pools.
        API keys are read when a request is made (``keys``), never stored.
        """
        env = os.environ if env is None else env
        fields: dict[str, object] = {}
        order = (env.get("DISCOVER_LITERATURE") or "").strip()
        if order.lower() == "offline":
            fields["offline"] = True
        elif order:
            fields["backends"] = order
        urls = {b: env[f"DISCOVER_{b.upper()}_URL"] for b in BACKENDS if env.get(f"DISCOVER_{b.upper()}_URL")}
        if urls:
            fields["urls"] = urls
        if env.get("DISCOVER_MAILTO"):
            fields["mailto"] = env["DISCOVER_MAILTO"]
        fields.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"][:1]) or "literature"
            flag = {"backends": "--literature (or DISCOVER_LITERATURE)"}.get(where, where)
            raise LiteratureConfigError(
                f"{flag}: {err['msg']} (backends: {', '.join(BACKENDS)}, or offline)") from None


def keys(backend: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The optional API key of ``backend`` from the environment, as the headers or parameters it needs."""
    env = os.environ if env is None else env
    if backend == "semantic_scholar":
        key = env.get("SEMANTIC_SCHOLAR_API_KEY") or env.get("S2_API_KEY")
        return {"header:x-api-key": key} if key else {}
    if backend == "openalex":
        key = env.get("OPENALEX_API_KEY")
        return {"param:api_key": key} if key else {}
    if backend == "crossref":
        key = env.get("CROSSREF_PLUS_API_TOKEN")
        return {"header:Crossref-Plus-API-Token": f"Bearer {key}"} if key else {}
    return {}
