"""Prompt and block templates, kept as text files so they can be read and edited as prose."""

from __future__ import annotations

from importlib.resources import files


def template(name: str) -> str:
    return (files(__name__) / f"{name}.txt").read_text(encoding="utf-8").strip()
