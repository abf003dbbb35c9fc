"""Letta agent files (.af): reading them into memos agents and writing memos agents out as them."""
