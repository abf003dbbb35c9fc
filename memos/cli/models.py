"""`memos models`: which providers are configured and usable, and the model aliases."""

from __future__ import annotations

from memos.cli import output
from memos.cli.common import JsonOpt, workspace


def models(json_out: JsonOpt = False) -> None:
    """List usable LLM providers, models and aliases."""
    from memos.core.llm import provider_statuses

    ws = workspace()
    statuses = provider_statuses(ws.config)
    aliases = ws.config.section("aliases")
    if json_out:
        output.emit_json({"providers": statuses, "aliases": aliases,
                          "default_model": ws.config.get("default_model")})
        return
    output.table(["provider", "usable", "detail", "models"], [
        (s.provider, "yes" if s.usable else "no", s.detail, ", ".join(s.models[:8]) + (" …" if len(s.models) > 8 else ""))
        for s in statuses])
    if aliases:
        output.table(["alias", "model"], sorted(aliases.items()))
    output.note(f"default model for new agents: {ws.config.get('default_model')}")
