"""Build a RunConfig from command-line flags, with one-line errors naming the flag."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from pydantic import ValidationError

from discovery.durations import DurationError, parse_duration
from runs.models import RunConfig

# RunConfig field -> the flag a user types
FLAGS = {
    "budget": "--budget", "time_limit": "--time", "workers": "--workers", "policy": "--policy",
    "seed": "--seed", "num_drafts": "--num-drafts", "max_cost": "--max-cost",
    "workspace": "--workspace", "final_seeds": "--final-seeds", "final_top_k": "--final-top-k",
    "image": "--image", "gpus": "--gpus", "gpus_per_node": "--gpus-per-node", "ray_address": "--ray-address", "c_puct": "--c-puct",
    "value_agent": "--value-agent",
    "node_disk": "--node-disk", "node_memory": "--node-memory", "node_shm": "--node-shm",
}

# Model settings (agents.llm.LLMConfig.resolve's keys) -> the flag a user types
MODEL_FLAGS = {
    "model": "--model", "api_base": "--api-base", "api_key_env": "--api-key-env", "value_model": "--value-model",
    "review_model": "--review-model", "metric_model": "--metric-model", "writeup_model": "--writeup-model",
}


class ConfigError(ValueError):
    """A flag or config value is wrong; the message names it."""


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """RunConfig from the ``run`` command's flags."""
    return _validated(_flag_fields(args, FLAGS))


def updates_from_args(args: argparse.Namespace) -> dict[str, object]:
    """RunConfig fields given on a resume or fork command line, each checked on its own."""
    updates = _flag_fields(args, ("budget", "time_limit", "workers", "policy"))
    for key, value in updates.items():
        _validated({key: value})
    return updates


def _flag_fields(args: argparse.Namespace, keys: object) -> dict[str, object]:
    """The given flags among ``keys``, with --time parsed and --policy checked."""
    from search.policy import POLICIES

    fields = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if "time_limit" in fields:
        try:
            fields["time_limit"] = parse_duration(fields["time_limit"])
        except DurationError as exc:
            raise ConfigError(f"--time: {exc}") from None
    if fields.get("policy") not in (None, *POLICIES):
        raise ConfigError(f"--policy: unknown policy {fields['policy']!r} (choose from {', '.join(POLICIES)})")
    return fields


def _validated(fields: dict[str, object]) -> RunConfig:
    try:
        return RunConfig(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "config"
        raise ConfigError(f"{FLAGS.get(field, field)}: {err['msg']}") from None


# The key each provider's models read (litellm's names); `discover doctor` says which are set.
PROVIDER_KEYS = {
    "openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY", "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY", "together_ai": "TOGETHERAI_API_KEY", "xai": "XAI_API_KEY",
    "cohere": "COHERE_API_KEY", "azure": "AZURE_API_KEY", "huggingface": "HF_TOKEN",
}


def key_report(env: Mapping[str, str]) -> str:
    """Which providers' API keys ``env`` holds, by variable name only: a value is never shown."""
    present = [f"{name} ({provider})" for provider, name in PROVIDER_KEYS.items() if env.get(name)]
    missing = [name for name in PROVIDER_KEYS.values() if not env.get(name)]
    found = f"set: {', '.join(present)}" if present else "no provider key set (local servers and Ollama need none)"
    return f"{found}; not set: {', '.join(missing)}" if present and missing else (
        found if present else f"{found}; looked for {', '.join(missing)}")
