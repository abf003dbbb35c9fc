"""What import and export share: the metadata key memos keeps Letta's leftovers under."""

from __future__ import annotations

KEPT = "letta_agent_file"  # the agent metadata key holding what memos keeps only for export
