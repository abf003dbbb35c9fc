"""A decision about one tool call that waits for approval: what a person or the client says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CallDecision:
    """What a person (or the client) decided for one waiting call: ``approve`` it, ``deny`` it
    (``text`` the reason), or ``return`` the result the client got running it itself."""

    kind: Literal["approve", "deny", "return"]
    text: str = ""
    status: str = "success"  # of a returned result


def denial(reason: str) -> str:
    """What a denied call returns to the model."""
    return f"Error: the user denied this tool call. Reason: {reason.strip() or 'no reason given'}"
