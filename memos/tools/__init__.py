"""Tools: built-ins (memory tools with Letta's names), the schema registry, later the agent's own tool repo."""
