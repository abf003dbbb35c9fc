"""Sleep-time self-evolution: memory consolidation, tool-code proposals on git branches,
checks (tests and shadow replay), the arbiter, review and rollback."""
