"""The one place litellm is called: configuration, an async client, call records, model checks.

Every request has a timeout and a bounded number of retries (429, 5xx, timeouts and
dropped connections back off exponentially; anything else fails at once), so a bad
provider slows a run down but never hangs it. Each HTTP attempt becomes an ``LLMCall``
record handed to the caller's ``on_call`` callback: that is how the orchestrator stores
calls and counts cost without this package knowing about the store.

litellm is imported lazily (about 5 s of CPU): importing this module is cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import inspect
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.extract import strip_reasoning
from runs.models import RunConfig

Role = Literal["code", "value", "review", "metric", "writeup"]
ROLES: tuple[Role, ...] = ("code", "value", "review", "metric", "writeup")
# The setting that names each role's model (``resolve``'s keys; the CLI shows them as its flags).
ROLE_FIELDS: dict[str, str] = {"code": "model", "value": "value_model", "review": "review_model",
                               "metric": "metric_model", "writeup": "writeup_model"}
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
_PLACEHOLDER_KEY = "not-needed"  # local OpenAI-compatible servers accept any key, the SDK wants one
_HARD_MARGIN = 5.0  # seconds past the request timeout before we abandon the call ourselves
_REPLY_CAP = 100_000  # characters of a reply kept in a call record

log = logging.getLogger(__name__)

current_node: contextvars.ContextVar[int | None] = contextvars.ContextVar("discover_llm_node", default=None)


@contextlib.contextmanager
def node_scope(node_id: int | None) -> Iterator[None]:
    """Tag every call made inside this block (in this asyncio task) with ``node_id``."""
    token = current_node.set(node_id)
    try:
        yield
    finally:
        current_node.reset(token)


class LLMError(Exception):
    """A model call failed for good (after its retries) or its reply was unusable."""


class ContextTooLong(LLMError):
    """The prompt does not fit the model's context; a shorter prompt may (agents.prompts.Prompt)."""


class ModelCheckError(LLMError):
    """The configured model cannot be used: unknown, no key, or refused. One line.

    ``field`` is the setting at fault (``model``, ``review_model``... as ``LLMConfig.resolve``
    names them); the message starts with it, and ``named`` puts a caller's name for it (a
    command-line flag) in its place.
    """

    def __init__(self, field: str, rest: str) -> None:
        super().__init__(f"{field}{rest}")
        self.field, self.rest = field, rest

    def named(self, names: Mapping[str, str]) -> str:
        """The message with ``field`` shown as ``names[field]`` (itself when not there)."""
        return f"{names.get(self.field, self.field)}{self.rest}"


class CostLimitReached(LLMError):
    """The run's cost ledger has reached its cap: no further call is made."""


@dataclass
class CostLedger:
    """What a run has spent on model calls, against its cap (``--max-cost``; None: no cap).

    Shared by every client of one run, so the cap holds for all roles together; ``spent``
    starts from what earlier sessions of the run spent.
    """

    limit: float | None = None
    spent: float = 0.0

    @property
    def reached(self) -> bool:
        return self.limit is not None and self.spent >= self.limit

    def add(self, cost: float) -> None:
        self.spent += cost


class LLMConfig(BaseModel):
    """Which model plays which role, where it is served, and how patient to be with it."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)  # the default for every role, e.g. openai/gpt-4o-mini
    models: dict[Role, str] = Field(default_factory=dict)  # per-role overrides
    api_base: str | None = None  # an OpenAI-compatible server, Ollama, a proxy...
    api_key_env: str | None = None  # name of the environment variable holding the key
    timeout: float = Field(default=300.0, gt=0)  # seconds per request
    max_retries: int = Field(default=4, ge=0, le=10)  # retries after the first attempt
    backoff: float = Field(default=2.0, ge=0)  # first wait in seconds, doubled at each retry
    backoff_max: float = Field(default=60.0, ge=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    concurrency: int = Field(default=8, ge=1)  # requests in flight at once, all roles together
    code_attempts: int = Field(default=2, ge=1, le=5)  # asks per expansion when a reply has no usable code
    vision: bool | None = None  # None: ask litellm.supports_vision about the review model
    # USD per million tokens, for models litellm has no price for (local servers, new models).
    price_in: float | None = Field(default=None, ge=0)
    price_out: float | None = Field(default=None, ge=0)

    def model_for(self, role: Role) -> str:
        """The model that plays ``role``."""
        return self.models.get(role) or self.model

    @classmethod
    def resolve(cls, flags: Mapping[str, Any] | None = None, file: Mapping[str, Any] | None = None,
                env: Mapping[str, str] | None = None) -> LLMConfig | None:
        """Merge a config file's ``llm`` table, the environment and command-line flags (that order,
        later wins); None when no model is named anywhere, meaning: use the offline agent.

        ``flags`` keys are field names (``model``, ``api_base``...) plus ``<role>_model``;
        the environment gives ``DISCOVER_MODEL`` and ``DISCOVER_API_BASE``.
        """
        env = os.environ if env is None else env
        merged: dict[str, Any] = dict(file or {})
        if not isinstance(merged.get("models") or {}, Mapping):
            raise ModelCheckError("llm config", " models: expected a table of role = model")
        merged["models"] = dict(merged.get("models") or {})
        if env.get("DISCOVER_MODEL"):
            merged["model"] = env["DISCOVER_MODEL"]
        if env.get("DISCOVER_API_BASE"):
            merged["api_base"] = env["DISCOVER_API_BASE"]
        for key, value in (flags or {}).items():
            if value is None:
                continue
            if key.endswith("_model") and key[: -len("_model")] in ROLES:
                merged["models"][key[: -len("_model")]] = value
            else:
                merged[key] = value
        if not merged.get("model"):
            if merged["models"]:
                raise ModelCheckError(ROLE_FIELDS[next(iter(merged["models"]))],
                                      ": a role model needs a default model too")
            return None
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "llm"
            raise ModelCheckError("llm config", f" {where}: {err['msg']}") from None


def run_llm(config: RunConfig) -> LLMConfig | None:
    """The model configuration a run's config holds (``RunConfig.llm``); None: the offline agent."""
    return LLMConfig.model_validate(config.llm) if config.llm else None


def with_llm(config: RunConfig, llm: LLMConfig | None) -> RunConfig:
    """``config`` set to search with ``llm`` (None: the offline agent)."""
    return config.model_copy(update={"llm": llm.model_dump() if llm is not None else None})


class LLMCall(BaseModel):
    """One HTTP attempt at a model: who asked, what it cost, how it went."""

    role: str  # the purpose: draft, debug, improve, tune, ablate, value, review, plot_review, metric, check
    model: str
    node_id: int | None = None
    attempt: int = 1  # 1 for the first try, 2.. for retries
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0  # USD; 0.0 when the model has no known price
    latency: float = 0.0  # seconds
    error: str | None = None  # None when the attempt returned a reply
    request_id: str | None = None  # the provider's id of the reply
    prompt_hash: str = ""  # first 16 hex digits of sha256 of the messages: same prompt, same hash
    started_at: float = 0.0
    # Kept for transcripts, not for the calls table: images are replaced by a placeholder.
    messages: list[dict[str, Any]] | None = Field(default=None, exclude=True)
    reply: str | None = Field(default=None, exclude=True)


@dataclass(frozen=True)
class Completion:
    """A model's reply text and the record of the attempt that produced it."""

    text: str
    call: LLMCall
    cut: bool = False  # the model stopped at its output limit (finish_reason "length"), not at its end


OnCall = Callable[[LLMCall], Any | Awaitable[Any]]


def _litellm() -> Any:
    # Without this litellm spends ~10 s trying to download its price map on a machine offline.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Provider List" banners on stdout
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    return litellm


async def _load_litellm() -> None:
    """Import litellm in a daemon thread: a run that ends before the import does (a short run, a
    Ctrl-C) exits at once instead of waiting for it, as it would for the loop's executor."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if not done.done():
            done.set_exception(error) if error is not None else done.set_result(None)

    def load() -> None:
        error: BaseException | None = None
        try:
            _litellm()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting task
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=load, name="litellm-import", daemon=True).start()
    await done


class LLMClient:
    """Async chat completions through litellm with timeouts, bounded retries and call records."""

    def __init__(self, config: LLMConfig, on_call: OnCall | None = None, ledger: CostLedger | None = None) -> None:
        self.config = config
        self.on_call = on_call
        self.ledger = ledger or CostLedger()
        self.total_cost = 0.0
        self.calls = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._keys: dict[str, str | None] = {}
        self._no_system_role: set[str] = set()  # models whose chat template refuses a system message
        self._ready: asyncio.Task[None] | None = None  # the background check every call waits for

    def start_check(self, also: Callable[[], Any] | None = None) -> asyncio.Task[None]:
        """Load litellm (about 5 s) in a thread and check the model (``acheck_model``, its probe
        included) in the background, from now on; return that task.

        Every call waits for it and fails with its ModelCheckError when the model cannot be
        used, so a run can start its first node (the baseline needs no model) while the model
        library loads. ``also`` runs once litellm is loaded (a notice about prices, say).
        """
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_task(self._check(also), name="model-check")
        return self._ready

    async def _check(self, also: Callable[[], Any] | None) -> None:
        await _load_litellm()
        if also is not None:
            try:
                also()
            except Exception:  # a notice must not stop the run
                log.exception("after loading litellm")
        await acheck_model(self.config)

    async def ready(self) -> None:
        """Wait for the background check (ModelCheckError when the model cannot be used).

        Call it before the synchronous helpers below (``supports_schema``...) on the event loop:
        they import litellm, and while the check's thread holds that import a direct call would
        block the loop, and every running node with it, for seconds.
        """
        if self._ready is not None:
            await asyncio.shield(self._ready)

    async def complete(self, messages: list[dict[str, Any]], *, role: Role, purpose: str,
                       max_tokens: int | None = None, response_format: dict[str, Any] | None = None) -> Completion:
        """The reply to ``messages`` from ``role``'s model, retrying transient failures.

        Raises LLMError after the last retry or at once on a permanent error (bad request,
        auth, unknown model, context too long), and CostLimitReached instead of sending a
        request once the ledger has reached its cap. Every attempt is reported to ``on_call``.
        """
        await self.ready()
        litellm = _litellm()
        cfg = self.config
        model = cfg.model_for(role)
        kwargs: dict[str, Any] = {
            "model": model, "messages": messages, "timeout": cfg.timeout,
            # We retry ourselves, so the SDK's and litellm's own retries are off: one loop, bounded.
            "max_retries": 0, "num_retries": 0, "drop_params": True,
        }
        if cfg.api_base:
            kwargs["api_base"] = cfg.api_base
        key = self._api_key(model)
        if key is not None:
            kwargs["api_key"] = key
        if cfg.temperature is not None:
            kwargs["temperature"] = cfg.temperature
        if max_tokens or cfg.max_tokens:
            kwargs["max_tokens"] = max_tokens or cfg.max_tokens
        if response_format is not None:
            kwargs["response_format"] = response_format
        if model in self._no_system_role:
            kwargs["messages"] = _fold_system(messages)
        digest = prompt_hash(messages)
        node_id = current_node.get()
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(cfg.concurrency)
        retries = cfg.max_retries  # one more when the request is re-sent without its system role
        attempt = 0
        while True:
            attempt += 1
            started, t0 = time.time(), time.monotonic()
            try:
                async with self._semaphore:
                    # Checked once a slot is free: calls that finished meanwhile may have spent the rest.
                    self._check_ledger(purpose)
                    response = await asyncio.wait_for(litellm.acompletion(**kwargs), cfg.timeout + _HARD_MARGIN)
                text = _reply_text(response)
            except CostLimitReached:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed silently
                last_error = _describe(exc)
                call = LLMCall(role=purpose, model=model, node_id=node_id, attempt=attempt, error=last_error,
                               latency=time.monotonic() - t0, prompt_hash=digest, started_at=started,
                               messages=_loggable(messages))
                await self._report(call)
                if model not in self._no_system_role and _refuses_system_role(exc, messages):
                    # Gemma's and older Mistral templates (vLLM, TGI) have no system role: say it
                    # in the first user message, for this call and the model's next ones.
                    self._no_system_role.add(model)
                    kwargs["messages"] = _fold_system(messages)
                    retries += 1
                    continue
                if not _retryable(exc) or attempt > retries:
                    tries = f" after {attempt} attempts" if attempt > 1 else ""
                    error = ContextTooLong if _context_overflow(exc) else LLMError
                    raise error(f"{purpose} call to {model} failed{tries}: {last_error}") from exc
                await asyncio.sleep(self._wait(attempt, exc))
                continue
            usage = getattr(response, "usage", None)
            call = LLMCall(
                role=purpose, model=model, node_id=node_id, attempt=attempt,
                tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
                tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
                cost=_cost(litellm, response, cfg), latency=time.monotonic() - t0,
                request_id=getattr(response, "id", None), prompt_hash=digest, started_at=started,
                messages=_loggable(messages), reply=text[:_REPLY_CAP],
            )
            self.total_cost += call.cost
            self.ledger.add(call.cost)
            await self._report(call)
            # The record keeps the reply as sent; callers get the answer without its reasoning.
            return Completion(text=strip_reasoning(text), call=call, cut=_finish_reason(response) == "length")

    def supports_vision(self, role: Role = "review") -> bool:
        """Whether ``role``'s model takes images (the config's ``vision`` overrides litellm)."""
        if self.config.vision is not None:
            return self.config.vision
        try:
            return bool(_litellm().supports_vision(model=self.config.model_for(role)))
        except Exception:  # noqa: BLE001 - an unmapped model: assume text only
            return False

    def supports_schema(self, role: Role) -> bool:
        """Whether ``role``'s model is known to honour ``response_format`` JSON schemas."""
        try:
            return bool(_litellm().supports_response_schema(model=self.config.model_for(role)))
        except Exception:  # noqa: BLE001
            return False

    # -- helpers --------------------------------------------------------------------------

    def _check_ledger(self, purpose: str) -> None:
        if self.ledger.reached:
            raise CostLimitReached(f"{purpose}: not sent, the cost limit of ${self.ledger.limit:g} is spent "
                                   f"(${self.ledger.spent:.4f})")

    def _api_key(self, model: str) -> str | None:
        if model in self._keys:
            return self._keys[model]
        key: str | None = None
        if self.config.api_key_env:
            key = os.environ.get(self.config.api_key_env)
        elif self.config.api_base and _missing_keys(model, self.config.api_base):
            key = _PLACEHOLDER_KEY
        self._keys[model] = key
        return key

    def _wait(self, attempt: int, exc: BaseException) -> float:
        cfg = self.config
        wait = min(cfg.backoff_max, cfg.backoff * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        hint = _retry_after(exc)
        if hint is not None:
            wait = max(wait, min(hint, cfg.backoff_max))
        return wait

    async def _report(self, call: LLMCall) -> None:
        self.calls += 1
        if self.on_call is None:
            return
        try:
            result = self.on_call(call)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a failing recorder must not turn a good reply into a failed node
            log.exception("on_call callback failed for a %s call", call.role)


# -- model checks ---------------------------------------------------------------------------

async def acheck_model(config: LLMConfig, *, probe: bool = True, on_call: OnCall | None = None) -> None:
    """Raise ModelCheckError (one line naming the flag) when a configured model cannot be used.

    Checks that litellm knows each model's provider, that its key is set, and (``probe``)
    that one tiny request succeeds, which catches wrong keys, unknown model names on the
    server and unreachable API bases before any node runs.
    """
    litellm = _litellm()
    by_model = _models(config)
    for model, field in by_model.items():
        try:
            litellm.get_llm_provider(model=model, api_base=config.api_base)
        except Exception:  # noqa: BLE001 - litellm raises BadRequestError with a banner
            raise ModelCheckError(field, (
                f" {model}: unknown model; name it as provider/model, e.g. openai/gpt-4o-mini, "
                "anthropic/claude-sonnet-4-5, ollama/llama3 (or openai/NAME on an OpenAI-compatible API base)"),
            ) from None
        if config.api_key_env:
            if not os.environ.get(config.api_key_env):
                raise ModelCheckError(field, f" {model}: the key variable {config.api_key_env} is not set")
        elif not config.api_base:
            missing = _missing_keys(model, None)
            if missing:
                raise ModelCheckError(field, f" {model}: missing key, set {' or '.join(missing)}")
    if not probe:
        return
    # One attempt, short patience: a check should answer in seconds, not after minutes of backoff.
    quick = config.model_copy(update={"max_retries": min(config.max_retries, 1), "timeout": min(config.timeout, 60.0),
                                      "backoff": min(config.backoff, 1.0)})
    client = LLMClient(quick, on_call)
    for model, field in by_model.items():
        role = next(r for r in ROLES if config.model_for(r) == model)
        try:
            await client.complete([{"role": "user", "content": "Reply with the word OK."}], role=role,
                                  purpose="check", max_tokens=5)
        except LLMError as exc:
            cause = exc.__cause__
            what = "authentication failed (check the key)" if _status(cause) in (401, 403) else (
                "the server does not know this model" if _status(cause) == 404 else _describe(cause or exc))
            where = f" at {config.api_base}" if config.api_base else ""
            raise ModelCheckError(field, f" {model}{where}: {what}") from None


# Providers whose models read exactly this one key variable (as litellm checks them).
_ONE_KEY = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "openrouter": "OPENROUTER_API_KEY",
            "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY", "deepseek": "DEEPSEEK_API_KEY",
            "together_ai": "TOGETHERAI_API_KEY", "xai": "XAI_API_KEY", "cohere": "COHERE_API_KEY"}


def quick_check(config: LLMConfig, env: Mapping[str, str] | None = None) -> None:
    """The part of ``acheck_model`` that needs no litellm: the key variable the config names is
    set, and so is the key of each model's provider when that is sure. Raise ModelCheckError.

    Instant, so the CLI refuses a missing key before the run is stored; the rest (an unknown
    model, a wrong key, a server that does not answer) is ``LLMClient.start_check``'s.
    """
    env = os.environ if env is None else env
    for model, field in _models(config).items():
        if config.api_key_env:
            if not env.get(config.api_key_env):
                raise ModelCheckError(field, f" {model}: the key variable {config.api_key_env} is not set")
        elif not config.api_base:
            key = _ONE_KEY.get(model.split("/", 1)[0]) if "/" in model else None
            if key and not env.get(key):
                raise ModelCheckError(field, f" {model}: missing key, set {key}")


def _models(config: LLMConfig) -> dict[str, str]:
    """Each distinct model of the config and the setting that names it."""
    by_model: dict[str, str] = {}
    for role in ROLES:
        by_model.setdefault(config.model_for(role), ROLE_FIELDS[role] if role in config.models else "model")
    return by_model


def check_model(config: LLMConfig, *, probe: bool = True) -> None:
    """Synchronous ``acheck_model`` for the CLI (before the run's event loop starts)."""
    asyncio.run(acheck_model(config, probe=probe))


# -- small pure helpers --------------------------------------------------------------------

def prompt_hash(messages: list[dict[str, Any]]) -> str:
    """A short stable id of a prompt: equal prompts get equal hashes."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _reply_text(response: Any) -> str:
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise LLMError("the reply has no choices")
    content = choices[0].message.content
    return content if isinstance(content, str) else ""


def _finish_reason(response: Any) -> str | None:
    choices = getattr(response, "choices", None) or []
    return getattr(choices[0], "finish_reason", None) if choices else None


def _cost(litellm: Any, response: Any, config: LLMConfig | None = None) -> float:
    # A model litellm has no price for costs what --price-in/--price-out say, else zero.
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    # litellm prices every response it returns; a None it left there means the model has no
    # price, and asking again costs milliseconds per call for the same None.
    if cost is None and "response_cost" not in hidden:
        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:  # noqa: BLE001 - ModelNotMappedError and friends
            cost = None
    if cost is None and config is not None and (config.price_in is not None or config.price_out is not None):
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = (tokens_in * (config.price_in or 0.0) + tokens_out * (config.price_out or 0.0)) / 1e6
    try:
        return max(0.0, float(cost or 0.0))
    except (TypeError, ValueError):
        return 0.0


def has_price(model: str) -> bool:
    """Whether litellm's price table knows ``model`` (its calls then have a cost)."""
    try:
        info = _litellm().get_model_info(model=model)
    except Exception:  # noqa: BLE001 - unmapped models raise
        return False
    return info.get("input_cost_per_token") is not None or info.get("output_cost_per_token") is not None


def unpriced_models(config: LLMConfig) -> list[str]:
    """The configured models whose calls would count as $0: no litellm price and no --price-in/--price-out."""
    if config.price_in is not None or config.price_out is not None:
        return []
    models = dict.fromkeys(config.model_for(role) for role in ROLES)
    return [m for m in models if not has_price(m)]


def _status(exc: BaseException | None) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return True
    name = type(exc).__name__
    if name in ("Timeout", "APITimeoutError", "APIConnectionError", "ServiceUnavailableError",
                "InternalServerError", "RateLimitError", "BadGatewayError"):
        return True
    if name in ("ContextWindowExceededError", "ContentPolicyViolationError", "AuthenticationError",
                "PermissionDeniedError", "NotFoundError", "BadRequestError", "UnsupportedParamsError"):
        return False
    return _status(exc) in _RETRY_STATUS


_OVERFLOW = re.compile(r"context (length|window|size)|maximum context|too many tokens|prompt is too long", re.I)


def _context_overflow(exc: BaseException) -> bool:
    """The prompt is longer than the model's context: litellm's ContextWindowExceededError, or a
    400 saying so in another server's words (llama.cpp: "exceeds the available context size")."""
    return type(exc).__name__ == "ContextWindowExceededError" or (
        _status(exc) == 400 and bool(_OVERFLOW.search(str(exc))))


def _refuses_system_role(exc: BaseException, messages: list[dict[str, Any]]) -> bool:
    """A 400 from a chat template that has no system role ("System role not supported",
    "Conversation roles must alternate user/assistant/...") for a request that has one."""
    text = str(exc).lower()
    return (_status(exc) == 400 and any(m.get("role") == "system" for m in messages)
            and ("system role" in text or "roles must alternate" in text))


def _fold_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with the system message(s) put at the start of the first user message."""
    system = "\n\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    rest = [dict(m) for m in messages if m.get("role") != "system"]
    first = next((m for m in rest if m.get("role") == "user"), None)
    if first is None:
        return [{"role": "user", "content": system}, *rest]
    content = first.get("content")
    if isinstance(content, list):  # text and image parts
        first["content"] = [{"type": "text", "text": system}, *content]
    else:
        first["content"] = f"{system}\n\n{content or ''}"
    return rest


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None) or getattr(exc, "headers", None)
    if not headers:
        return None
    try:
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    text = " ".join(str(exc).split())
    for prefix in ("litellm.",):
        text = text.removeprefix(prefix)
    status = _status(exc)
    label = type(exc).__name__ + (f" {status}" if status else "")
    return f"{label}: {text[:300]}" if text else label


def _missing_keys(model: str, api_base: str | None) -> list[str]:
    try:
        found = _litellm().validate_environment(model=model, api_base=api_base)
    except Exception:  # noqa: BLE001
        return []
    # A local server (Ollama) without an explicit base still has a default one: only keys count.
    return [k for k in found.get("missing_keys", []) if k.endswith(("_KEY", "_TOKEN"))]


def _loggable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "image_url":
                    url = str(p.get("image_url", {}).get("url", ""))
                    parts.append({"type": "image_url", "image_url": {"url": f"<image, {len(url)} chars>"}})
                else:
                    parts.append(p)
            m = {**m, "content": parts}
        out.append(m)
    return out
