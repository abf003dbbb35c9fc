"""MCP servers as configured in ``config.toml`` (``[mcp.servers.NAME]``), never with a secret in it.

    [mcp.servers.weather]
    command = ["python", "weather_server.py"]   # stdio: memos starts it
    env = ["WEATHER_API_KEY"]                   # passed from memos's environment, by name only
    env_values = { PYTHONPATH = "/opt/lib" }    # fixed values, never for a name that looks secret
    timeout = 30.0

    [mcp.servers.search]
    url = "http://127.0.0.1:8931/mcp"           # streamable HTTP (sse = true: the older SSE transport)
    headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }   # filled in from the environment

A stdio server gets only a minimal environment (PATH, HOME, ...) plus the variables its ``env``
names: API keys in memos's environment do not leak to it. A URL must be on this machine unless
``allow_remote`` is set (memos mcp add --allow-remote).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from memos.core.config import Config
from memos.errors import AlreadyExists, InvalidInput, NotFound

SECTION = "mcp.servers"
DEFAULT_TIMEOUT = 30.0
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_HEADERS = ("authorization", "key", "token", "secret", "cookie", "password")
SECRET_NAMES = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")


def looks_secret(variable: str) -> bool:
    return any(word in variable.upper() for word in SECRET_NAMES)


@dataclass(frozen=True)
class ServerConfig:
    name: str
    command: list[str] = field(default_factory=list)  # stdio
    url: str | None = None  # streamable HTTP
    env: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # values may hold ${VAR}
    timeout: float = DEFAULT_TIMEOUT
    allow_remote: bool = False
    sse: bool = False  # the URL speaks the older HTTP+SSE transport
    env_values: dict[str, str] = field(default_factory=dict)  # fixed, non-secret values

    @property
    def transport(self) -> str:
        return ("sse" if self.sse else "http") if self.url else "stdio"

    @property
    def address(self) -> str:
        return self.url or " ".join(self.command)

    def as_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"command": self.command} if self.command else {"url": self.url}
        if self.env:
            table["env"] = self.env
        if self.env_values:
            table["env_values"] = self.env_values
        if self.sse:
            table["sse"] = True
        if self.headers:
            table["headers"] = self.headers
        if self.timeout != DEFAULT_TIMEOUT:
            table["timeout"] = self.timeout
        if self.allow_remote:
            table["allow_remote"] = True
        return table

    def environment(self) -> dict[str, str]:
        """The variables a stdio server gets besides the SDK's minimal set; a missing one is an error."""
        missing = [name for name in self.env if name not in os.environ]
        if missing:
            raise InvalidInput(f"MCP server {self.name} needs {', '.join(missing)} in the environment",
                               f"export {missing[0]}=... before starting memos")
        return {**self.env_values, **{name: os.environ[name] for name in self.env}}

    def header_values(self) -> dict[str, str]:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise InvalidInput(f"MCP server {self.name} needs {name} in the environment (for a header)",
                                   f"export {name}=... before starting memos")
            return os.environ[name]

        return {key: TEMPLATE.sub(fill, value) for key, value in self.headers.items()}


def list_servers(config: Config) -> list[ServerConfig]:
    return [_from_table(name, table) for name, table in sorted(config.section(SECTION).items())
            if isinstance(table, dict)]


def get_server(config: Config, name: str) -> ServerConfig:
    table = config.section(SECTION).get(name)
    if not isinstance(table, dict):
        raise NotFound(f"no MCP server named '{name}'", "see `memos mcp list`")
    return _from_table(name, table)


def add_server(config: Config, name: str, *, command: list[str] | None = None, url: str | None = None,
               env: list[str] | None = None, headers: dict[str, str] | None = None,
               timeout: float = DEFAULT_TIMEOUT, allow_remote: bool = False, replace: bool = False,
               sse: bool = False, env_values: dict[str, str] | None = None) -> ServerConfig:
    if not NAME.match(name):
        raise InvalidInput(f"'{name}' is not a valid MCP server name", "use 1-40 letters, digits, _ or -")
    if not replace and name in config.section(SECTION):
        raise AlreadyExists(f"an MCP server named '{name}' exists", f"remove it first: memos mcp rm {name}")
    server = ServerConfig(name, list(command or []), url, list(env or []), dict(headers or {}), timeout, allow_remote,
                          sse, dict(env_values or {}))
    check_server(server)
    config.set_section(f"{SECTION}.{name}", server.as_table())
    return server


def remove_server(config: Config, name: str) -> None:
    get_server(config, name)
    config.set_section(f"{SECTION}.{name}", None)


def check_server(server: ServerConfig) -> None:
    if bool(server.command) == bool(server.url):
        raise InvalidInput("an MCP server is either a command (after --) or a --url, not both or neither",
                           "memos mcp add NAME -- COMMAND ARGS... or memos mcp add NAME --url http://127.0.0.1:PORT/mcp")
    if not 0 < server.timeout <= 3600:
        raise InvalidInput(f"a timeout of {server.timeout} s is out of range", "use 0-3600 seconds")
    for name in [*server.env, *server.env_values]:
        if not ENV_NAME.match(name):
            raise InvalidInput(f"'{name}' is not an environment variable name", "use letters, digits and _")
    for name in server.env_values:
        if looks_secret(name):
            raise InvalidInput(f"{name} looks like a secret, which memos never writes to config.toml",
                               f"pass it by name: export {name}=... and give --env {name}")
    if server.sse and not server.url:
        raise InvalidInput("the SSE transport needs a --url")
    for key, value in server.headers.items():
        if any(word in key.lower() for word in SECRET_HEADERS) and not TEMPLATE.search(value):
            raise InvalidInput(f"the {key} header would write a secret to config.toml",
                               f"give it as {key}=...${{VARIABLE}}... and export VARIABLE")
    if server.url:
        check_url(server.url, server.allow_remote)


def check_url(url: str, allow_remote: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"'{url}' is not an http(s) URL", "e.g. http://127.0.0.1:8931/mcp")
    if parts.username or parts.password:
        raise InvalidInput("the URL holds a user or password, which memos would write to config.toml",
                           "pass credentials as a header from the environment: --header 'Authorization=Bearer ${TOKEN}'")
    if not allow_remote and not is_loopback(parts.hostname):
        raise InvalidInput(f"{parts.hostname} is not this machine; memos calls remote MCP servers only when told to",
                           "add --allow-remote if you trust it")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _from_table(name: str, table: dict[str, Any]) -> ServerConfig:
    command = table.get("command") or []
    if isinstance(command, str):
        command = [command]
    headers = table.get("headers") or {}
    values = table.get("env_values") or {}
    return ServerConfig(name, [str(c) for c in command], table.get("url"),
                        [str(e) for e in table.get("env") or []], {str(k): str(v) for k, v in headers.items()},
                        float(table.get("timeout", DEFAULT_TIMEOUT)), bool(table.get("allow_remote", False)),
                        bool(table.get("sse", False)), {str(k): str(v) for k, v in values.items()})
