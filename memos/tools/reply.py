"""The built-in tool whose argument is the assistant's reply (Letta's send_message).

Front ends show its argument as the answer, not as a tool call; kept in a module of its
own so the CLI can know it without importing the tools (startup stays light)."""

REPLY_TOOL = "send_message"
