"""``config.toml``: typed settings with defaults.

API keys are never stored here: they come from the environment
(OPENAI_API_KEY, ANTHROPIC_API_KEY, GROQ_API_KEY), so a config file can be
shared or committed without leaking secrets.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from memos.errors import ConfigError

DEFAULT_EMBEDDING_MODEL = "local/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[str], Any]
    default: Any
    description: str


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.replace("_", "").replace(",", ""))
    except ValueError:
        raise ConfigError(f"'{raw}' is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"'{raw}' must be greater than 0")
    return value


def _fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"'{raw}' is not a number") from None
    if not 0.0 < value < 1.0:
        raise ConfigError(f"'{raw}' must be between 0 and 1")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"'{raw}' is not a number") from None
    if not value > 0:
        raise ConfigError(f"'{raw}' must be greater than 0")
    return value


def _any_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"'{raw}' is not a number") from None


def _canary_mode(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("split", "shadow", "off"):
        raise ConfigError(f"'{raw}' is not a canary mode", "use split, shadow or off")
    return value


def _price(raw: str) -> str:
    """'IN/OUT' US dollars per million tokens, e.g. '0.15/0.60'."""
    parts = str(raw).split("/")
    try:
        if len(parts) != 2 or any(float(part) < 0 for part in parts):
            raise ValueError
    except ValueError:
        raise ConfigError(f"'{raw}' is not a price", "give USD per million input/output tokens, e.g. 0.15/0.60") from None
    return str(raw)


def _text(raw: str) -> str:
    if not raw.strip():
        raise ConfigError("the value is empty")
    return raw.strip()


def _evolve_policy(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("review", "auto", "off"):
        raise ConfigError(f"'{raw}' is not an evolve policy", "use review, auto or off")
    return value


def _llm_client(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("auto", "litellm"):
        raise ConfigError(f"'{raw}' is not an LLM client", "use auto or litellm")
    return value


def _database_url(raw: str) -> str:
    from urllib.parse import urlsplit

    from memos.store.postgres.store import is_postgres_url

    value = raw.strip()
    if not is_postgres_url(value):
        raise ConfigError(f"'{value}' is not a PostgreSQL URL", "use postgresql://user@host:port/database")
    if urlsplit(value).password:
        raise ConfigError("memos never writes passwords to config.toml",
                          "put the password in ~/.pgpass (or PGPASSWORD), or the whole URL in MEMOS_DATABASE_URL")
    return value


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in [
        Setting("default_agent", _text, None, "agent used when --agent and MEMOS_AGENT are not given"),
        Setting("default_model", _text, "openai/gpt-4o-mini", "LLM for new agents, named the litellm way"),
        Setting("embedding_model", _text, DEFAULT_EMBEDDING_MODEL, "embedding model for new agents"),
        Setting("context_window", _positive_int, 128_000, "context window in tokens for new agents"),
        Setting("summarize_threshold", _fraction, 0.9, "share of the context window that triggers summarisation"),
        Setting("sandbox.wall_seconds", _positive_int, 10, "wall-time limit of one custom tool call, seconds"),
        Setting("sandbox.cpu_seconds", _positive_int, 10, "CPU-time limit of one custom tool call, seconds"),
        Setting("sandbox.memory_mb", _positive_int, 1024, "address-space limit of one custom tool call, MiB"),
        Setting("sandbox.output_kb", _positive_int, 1024, "cap on a tool call's printed output and result, KiB"),
        Setting("database_url", _database_url, None,
                "PostgreSQL database to use instead of the DuckDB file, postgresql://… "
                "(MEMOS_DATABASE_URL overrides it; keep passwords in ~/.pgpass or that variable)"),
        Setting("evolve.policy", _evolve_policy, "review",
                "what a sleep-time pass does with a passing tool change: review (keep it for a person), "
                "auto (accept it, as a canary when it changes existing tools, when tests pass, shadow replay "
                "shows no regression and its utility is above evolve.utility.threshold) or off (no proposals)"),
        Setting("evolve.canary.mode", _canary_mode, "split",
                "what an accepted change that touches existing tools does first: split (answers a share of the "
                "live calls), shadow (runs beside the old code on every call, never answers) or off (merged at once)"),
        Setting("evolve.canary.share", _fraction, 0.2, "split mode: the share of live calls the new version answers"),
        Setting("evolve.canary.calls", _positive_int, 50,
                "calls on the new version after which a healthy canary is promoted to all calls"),
        Setting("evolve.canary.hours", _positive_float, 24.0,
                "hours after which a canary without a regression is promoted, however few its calls"),
        Setting("evolve.canary.confidence", _fraction, 0.95,
                "one-sided confidence of the monitor's Wilson intervals: higher needs more evidence to roll back"),
        Setting("evolve.canary.latency_factor", _positive_float, 2.0,
                "roll back when the new version's p95 call time exceeds the old one's by this factor"),
        Setting("evolve.canary.max_changed", _fraction, 0.1,
                "shadow mode: roll back when the share of calls whose output changed is surely above this"),
        Setting("evolve.replay.sample", _positive_int, 20,
                "stage 2: recorded calls replayed first (errors, then the most recent)"),
        Setting("evolve.replay.full", _positive_int, 200,
                "stage 3: recorded calls replayed when the sample showed no regression"),
        Setting("evolve.utility.threshold", _any_float, 0.25,
                "policy auto merges a proposal only when its utility score is above this"),
        Setting("evolve.budget.tokens", _positive_int, 200_000,
                "LLM tokens one sleep pass may spend per agent; reaching it ends the agent's pass cleanly"),
        Setting("llm_client", _llm_client, "auto",
                "how LLMs are called: auto (OpenAI-compatible providers over plain HTTP, the rest through "
                "litellm) or litellm (everything through litellm: slower to start, its provider quirks)"),
        Setting("providers.openai.base_url", _text, None, "OpenAI-compatible server (or OPENAI_BASE_URL)"),
        Setting("providers.anthropic.base_url", _text, None, "Anthropic API base URL override"),
        Setting("providers.groq.base_url", _text, None, "Groq API base URL override"),
        Setting("providers.ollama.base_url", _text, "http://localhost:11434", "Ollama server (or OLLAMA_HOST)"),
        *(Setting(f"providers.{provider}.price", _price, None,
                  f"USD per million input/output tokens ('0.15/0.60', '0/0' for a free local server) of {provider} "
                  "models served from a base URL other than the provider's own (unset there: cost unknown)")
          for provider in ("openai", "anthropic", "groq")),
    ]
}

# Free-form tables: any key below them is allowed (model aliases, for example).
FREE_TABLES = {"aliases": "model alias, e.g. aliases.fast = groq/llama-3.1-8b-instant"}
# Tables a command writes whole (structured values); `memos config set` leaves them alone.
MANAGED_TABLES = {"mcp": "an MCP tool server (memos mcp add / rm)"}

PROVIDER_KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "groq": "GROQ_API_KEY",
}


def _is_secret(key: str) -> bool:
    last = key.rsplit(".", 1)[-1].lower()
    return any(word in last for word in ("api_key", "apikey", "token", "secret", "password"))


def _lookup_setting(key: str) -> Setting | None:
    if key in SETTINGS:
        return SETTINGS[key]
    table = key.split(".", 1)[0]
    if table in FREE_TABLES and "." in key and key.split(".", 1)[1]:
        return Setting(key, _text, None, FREE_TABLES[table])
    return None


def _check_key(key: str) -> Setting:
    if key not in SETTINGS and _is_secret(key):  # a named setting (evolve.budget.tokens) is no secret
        variables = ", ".join(PROVIDER_KEY_VARIABLES.values())
        raise ConfigError(
            f"'{key}' looks like a secret; memos never writes secrets to config.toml",
            f"set it in the environment instead: {variables}",
        )
    setting = _lookup_setting(key)
    if setting is None and key.split(".", 1)[0] in MANAGED_TABLES:
        raise ConfigError(f"'{key}' is managed by `memos mcp`", "use memos mcp add / rm")
    if setting is None:
        raise ConfigError(f"unknown config key '{key}'", "see `memos config show` for the keys")
    return setting


# Settings that stay with each machine even where several share one store: how to find the store,
# and a person's default agent. Every other setting (and model aliases, and MCP servers) is the
# cluster's on PostgreSQL, so every replica judges, sandboxes and routes alike.
LOCAL_KEYS = frozenset({"default_agent", "database_url"})
CLUSTER_REFRESH_SECONDS = 2.0  # how stale a replica's view of the cluster's settings may be


def is_cluster_key(key: str) -> bool:
    return key not in LOCAL_KEYS


class ClusterSettings(Protocol):
    """Where the cluster's settings live (the store, on PostgreSQL)."""

    def cluster_settings(self) -> dict[str, Any]: ...

    def put_cluster_settings(self, values: dict[str, Any], *, only_missing: bool = False) -> None:
        """Set these keys (a None value removes one); ``only_missing``: leave keys already set alone."""


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{full}."))
        else:
            flat[full] = value
    return flat


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        node = nested
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


@dataclass(frozen=True)
class Item:
    key: str
    value: Any
    about: str
    source: str  # default | config (this machine's config.toml) | cluster (the shared store)
    scope: str  # local | cluster: where a change to it goes


class Config:
    """Settings read from ``config.toml``; writes are atomic (temp file + rename).

    With a cluster (``cluster`` returns the store several machines share, or None), every key
    but LOCAL_KEYS is read from and written to the store instead: config.toml's value for such
    a key only seeds the cluster when the cluster has none (`seed_cluster`)."""

    def __init__(self, path: Path, cluster: Callable[[], ClusterSettings | None] | None = None) -> None:
        self.path = path
        self._values = self._read()
        self._cluster_source = cluster
        self._cluster_values: dict[str, Any] = {}
        self._cluster_read_at = float("-inf")

    # -- the cluster's settings -----------------------------------------------------
    def cluster(self) -> ClusterSettings | None:
        return self._cluster_source() if self._cluster_source is not None else None

    def _from_cluster(self, cluster: ClusterSettings) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._cluster_read_at >= CLUSTER_REFRESH_SECONDS:
            self._cluster_values, self._cluster_read_at = cluster.cluster_settings(), now
        return self._cluster_values

    def _effective(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Every set value, and where each came from."""
        cluster = self.cluster()
        if cluster is None:
            return dict(self._values), dict.fromkeys(self._values, "config")
        shared = self._from_cluster(cluster)
        values = {k: v for k, v in self._values.items() if not is_cluster_key(k)}
        sources = dict.fromkeys(values, "config")
        values.update(shared)
        sources.update(dict.fromkeys(shared, "cluster"))
        return values, sources

    def seed_cluster(self) -> list[str]:
        """Put this machine's config.toml values into the cluster where it has none; returns a
        line for each value here that the cluster overrides (a replica set up differently)."""
        cluster = self.cluster()
        if cluster is None:
            return []
        mine = {k: v for k, v in self._values.items() if is_cluster_key(k)}
        if mine:
            cluster.put_cluster_settings(mine, only_missing=True)
            self._cluster_read_at = float("-inf")
        return self.drift()

    def drift(self) -> list[str]:
        """A line for each value of this machine's config.toml that the cluster overrides."""
        cluster = self.cluster()
        if cluster is None:
            return []
        mine = {k: v for k, v in self._values.items() if is_cluster_key(k)}
        shared = self._from_cluster(cluster)
        return [f"config.toml sets {key} = {value!r}, but the cluster's value is {shared.get(key)!r}, which this "
                f"replica uses (change it for every replica with `memos config set {key} ...`)"
                for key, value in sorted(mine.items()) if shared.get(key) != value]

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            with self.path.open("rb") as handle:
                return _flatten(tomllib.load(handle))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{self.path} is not valid TOML: {exc}", "fix the file or delete it to start over"
            ) from None

    def _shared(self, key: str) -> ClusterSettings | None:
        """The cluster, when ``key`` is the cluster's to keep."""
        return self.cluster() if is_cluster_key(key) else None

    def get(self, key: str) -> Any:
        setting = _check_key(key)
        cluster = self._shared(key)
        values = self._from_cluster(cluster) if cluster is not None else self._values
        return values.get(key, setting.default)

    def is_set(self, key: str) -> bool:
        cluster = self._shared(key)
        return key in (self._from_cluster(cluster) if cluster is not None else self._values)

    def set(self, key: str, raw_value: str) -> Any:
        setting = _check_key(key)
        try:
            value = setting.parse(raw_value)
        except ConfigError as exc:
            raise ConfigError(f"bad value for {key}: {exc.message}") from None
        self._store_values({key: value})
        return value

    def unset(self, key: str) -> None:
        _check_key(key)
        self._store_values({key: None})

    def _store_values(self, changes: dict[str, Any]) -> None:
        """Set (None: remove) keys where they live: the cluster's in the store, the rest in config.toml."""
        cluster = self.cluster()
        shared = {k: v for k, v in changes.items() if cluster is not None and is_cluster_key(k)}
        if shared:
            assert cluster is not None
            cluster.put_cluster_settings(shared)
            self._cluster_read_at = float("-inf")
        local = {k: v for k, v in changes.items() if k not in shared}
        if any(v is not None or k in self._values for k, v in local.items()):
            for key, value in local.items():
                if value is None:
                    self._values.pop(key, None)
                else:
                    self._values[key] = value
            self._write()

    def items(self) -> list[Item]:
        """Every known key, and every key set, with its effective value and where it comes from."""
        values, sources = self._effective()
        cluster = self.cluster() is not None
        def scope(key: str) -> str:
            return "cluster" if cluster and is_cluster_key(key) else "local"

        rows = [Item(s.key, values.get(s.key, s.default), s.description, sources.get(s.key, "default"), scope(s.key))
                for s in SETTINGS.values()]
        for key, value in sorted(values.items()):
            if key not in SETTINGS:
                setting = _lookup_setting(key)
                managed = MANAGED_TABLES.get(key.split(".", 1)[0])
                rows.append(Item(key, value, setting.description if setting else managed or "unknown key",
                                 sources[key], scope(key)))
        return rows

    def section(self, prefix: str) -> dict[str, Any]:
        """The table at ``prefix`` (e.g. "mcp.servers"), nested as the file has it."""
        start = prefix + "."
        values, _ = self._effective()
        return _nest({k[len(start):]: v for k, v in values.items() if k.startswith(start)})

    def set_section(self, prefix: str, values: dict[str, Any] | None) -> None:
        """Replace the table at ``prefix`` (None removes it). For tables a command manages
        (MANAGED_TABLES), whose values are structured: `config set` takes one text value."""
        if prefix.split(".", 1)[0] not in MANAGED_TABLES:
            raise ConfigError(f"'{prefix}' is not a table memos manages")
        start = prefix + "."
        current, _ = self._effective()
        gone = {k: None for k in current if k.startswith(start) or k == prefix}
        self._store_values({**gone, **(_flatten(values, start) if values else {})})

    def _write(self) -> None:
        import tomli_w

        from memos.core.files import write_atomically

        write_atomically(self.path, tomli_w.dumps(_nest(self._values)))


def provider_key_status() -> dict[str, bool]:
    """Which provider keys are present in the environment (never their values)."""
    return {provider: bool(os.environ.get(var)) for provider, var in PROVIDER_KEY_VARIABLES.items()}
