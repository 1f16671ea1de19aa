"""Polite HTTP for the literature backends: spacing between requests, Retry-After, bounded retries.

One ``Fetcher`` per client. Each backend gets one request at a time, and the next starts no
sooner than its minimum interval after the previous one ended. A 429 or 503 with ``Retry-After`` is
retried after that many seconds, when it is no longer than ``max_wait``; a longer one, or the
last retry, fails the request so the client can fall over to the next backend. 5xx replies,
timeouts and dropped connections back off exponentially; other errors fail at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.literature.config import LiteratureConfig, keys

_RETRY = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "discover/0.1 (literature search for tree-search experiments)"


class LiteratureError(Exception):
    """A backend could not answer (after its retries) or answered something unusable."""


class NotFound(LiteratureError):
    """The backend answered that the paper does not exist there (404)."""


@dataclass
class Request:
    """One GET: a path under the backend's base URL, its parameters and headers."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    text: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names


class Fetcher:
    """GETs to the literature backends, one polite queue per backend."""

    def __init__(self, config: LiteratureConfig, *, sleep: Callable[[float], Awaitable[Any]] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._sleep = sleep or asyncio.sleep
        self._env = env
        self._client: Any = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}
        self.requests = 0  # HTTP attempts made, for the caller's summary

    async def get(self, backend: str, request: Request) -> Response:
        """The backend's answer to ``request``; LiteratureError when it cannot give one."""
        cfg = self.config
        url = cfg.url(backend) + request.path
        params = dict(request.params)
        headers = {"User-Agent": USER_AGENT + (f" mailto:{cfg.mailto}" if cfg.mailto else ""), **request.headers}
        for where, value in keys(backend, self._env).items():
            kind, name = where.split(":", 1)
            (headers if kind == "header" else params)[name] = value
        last = "no attempt"
        for attempt in range(1, cfg.max_retries + 2):
            wait: float | None
            try:
                async with self._turn(backend):
                    response = await self._send(url, params, headers)
            except LiteratureError as exc:  # timeouts, refused or dropped connections, oversized replies
                last = str(exc)
                wait = self._backoff(attempt)
            else:
                if response.status == 200:
                    return response
                if response.status == 404:
                    raise NotFound(f"{backend}: not found ({url})")
                last = f"HTTP {response.status}: {' '.join(response.text.split())[:200]}"
                if response.status not in _RETRY:
                    raise LiteratureError(f"{backend}: {last}")
                wait = parse_retry_after(response.headers.get("retry-after")) if response.status in (429, 503) \
                    else None
                if wait is not None and wait > cfg.max_wait:
                    raise LiteratureError(f"{backend}: {last}; it asks to wait {wait:.0f}s, more than the "
                                          f"{cfg.max_wait:.0f}s allowed")
                if wait is None:
                    wait = self._backoff(attempt)
            if attempt > cfg.max_retries:
                break
            await self._sleep(wait)
        tries = cfg.max_retries + 1
        raise LiteratureError(f"{backend}: failed after {tries} attempt{'s' if tries > 1 else ''}: {last}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- helpers ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _turn(self, backend: str) -> AsyncIterator[None]:
        """One request at a time per backend, starting no sooner than its minimum interval after the
        previous one ended."""
        lock = self._locks.setdefault(backend, asyncio.Lock())
        async with lock:
            gap = self.config.interval(backend) - (time.monotonic() - self._last.get(backend, float("-inf")))
            if gap > 0:
                await self._sleep(gap)
            try:
                yield
            finally:
                self._last[backend] = time.monotonic()

    async def _send(self, url: str, params: dict[str, Any], headers: dict[str, str]) -> Response:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout, follow_redirects=True)
        self.requests += 1
        try:
            async with self._client.stream("GET", url, params=params, headers=headers) as reply:
                body = bytearray()
                async for chunk in reply.aiter_bytes():
                    body += chunk
                    if len(body) > self.config.max_bytes:
                        raise LiteratureError(f"the reply from {url} is larger than {self.config.max_bytes} bytes")
                text = body.decode(reply.encoding or "utf-8", errors="replace")
                return Response(reply.status_code, text, str(reply.url),
                                {k.lower(): v for k, v in reply.headers.items()})
        except httpx.TimeoutException:
            raise LiteratureError(f"no answer from {url} within {self.config.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise LiteratureError(f"{type(exc).__name__} from {url}: {exc}") from None

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        return min(cfg.max_wait, cfg.backoff * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)



def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date; None when absent or bad."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
