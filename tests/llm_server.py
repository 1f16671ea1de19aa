"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests that reach it over real HTTP.

    with ScriptedLLM() as llm:                      # random free port
        llm.script(Reply("```python\\nprint(1)\\n```"), Reply(status=429), Reply("ok"))
        ... point litellm at llm.api_base with model "openai/NAME" ...
        assert llm.requests[0].body["messages"][0]["role"] == "system"

Replies come from a queue (``script``) or, when the queue is empty, from ``handler`` (a
function of the request); with neither the server answers 500 so a test sees the gap.
Every request is recorded, including those answered with an error.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    """One scripted answer: a chat reply, or an HTTP error when ``status`` is not 200."""

    content: str = ""
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (slow replies, timeouts)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Retry-After on a 429
    raw: str | None = None  # a body sent as is (malformed JSON, non-OpenAI shapes)
    model: str | None = None  # the model name echoed back; default: the one requested
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens; default: chars / 4
    finish_reason: str = "stop"  # "length": the reply was cut at the model's output limit


@dataclass
class Request:
    """What the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    def text(self) -> str:
        """All text content of the messages, joined (image parts left out)."""
        parts: list[str] = []
        for m in self.messages:
            content = m.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(p.get("text", "") for p in content if p.get("type") == "text")
        return "\n".join(parts)

    def images(self) -> list[str]:
        """The image URLs (data URLs for inline images) sent in the messages."""
        return [p["image_url"]["url"] for m in self.messages if isinstance(m.get("content"), list)
                for p in m["content"] if p.get("type") == "image_url"]


class ScriptedLLM:
    """The server, its reply queue and the log of requests it received."""

    def __init__(self, *, api_key: str | None = None,
                 handler: Callable[[Request], Reply] | None = None) -> None:
        self.api_key = api_key  # when set, other bearer tokens get 401
        self.handler = handler
        self.requests: list[Request] = []
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._count = 0
        self._stopping = threading.Event()  # ends delayed replies early, so that stop() never waits them out

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: Reply | str) -> None:
        """Queue replies, answered in order (a str is a plain 200 reply)."""
        with self._lock:
            self._queue.extend(Reply(r) if isinstance(r, str) else r for r in replies)

    def reset(self, handler: Callable[[Request], Reply] | None = None) -> None:
        """Forget queued replies and recorded requests; set a new handler."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.handler = handler

    @property
    def pending(self) -> int:
        """Queued replies not yet sent."""
        return len(self._queue)

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            self._count += 1
            if self._queue:
                return self._queue.pop(0)
        if self.handler is not None:
            return self.handler(request)
        return Reply(status=500, raw=json.dumps({"error": {"message": "the test scripted no reply for this"}}))

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes: without this, Nagle plus delayed ACKs
                # add ~40 ms to every reply.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_unparsed": raw.decode(errors="replace")}
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                if server.api_key is not None and request.headers.get("authorization") != f"Bearer {server.api_key}":
                    with server._lock:
                        server.requests.append(request)
                    self._send(401, json.dumps({"error": {"message": "Incorrect API key provided",
                                                          "type": "invalid_request_error",
                                                          "code": "invalid_api_key"}}), {})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    with server._lock:
                        server.requests.append(request)
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}), {})
                    return
                reply = server._next(request)
                if reply.delay:
                    server._stopping.wait(reply.delay)
                if reply.raw is not None:
                    payload = reply.raw
                elif reply.status != 200:
                    payload = json.dumps({"error": {"message": f"scripted error {reply.status}",
                                                    "type": "server_error"}})
                else:
                    payload = json.dumps(_completion(request, reply, server._count))
                self._send(reply.status, payload, reply.headers)

            def _send(self, status: int, payload: str, headers: dict[str, str]) -> None:
                data = payload.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

        return Handler


def _completion(request: Request, reply: Reply, n: int) -> dict[str, Any]:
    prompt_tokens, completion_tokens = reply.usage or (max(1, len(request.text()) // 4),
                                                       max(1, len(reply.content) // 4))
    return {
        "id": f"chatcmpl-scripted-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model or request.body.get("model", "scripted"),
        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                     "message": {"role": "assistant", "content": reply.content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


# -- pytest fixtures (imported by the conftest of each test folder that talks to a model) ---------

@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedLLM]:
    """One scripted server for the whole session."""
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm(scripted_server: ScriptedLLM) -> Iterator[ScriptedLLM]:
    """The session's scripted server, emptied for this test."""
    scripted_server.reset()
    yield scripted_server
    scripted_server.reset()


def fast_config(server: ScriptedLLM, model: str = "openai/scripted", **overrides: Any) -> Any:
    """An LLMConfig aimed at ``server`` with short timeouts and backoff, so failure tests are quick."""
    from agents.llm import LLMConfig

    fields: dict[str, Any] = {"model": model, "api_base": server.api_base, "timeout": 5.0, "max_retries": 2,
                              "backoff": 0.01, "backoff_max": 0.05}
    return LLMConfig(**{**fields, **overrides})
