"""Tools from MCP servers: their configuration, a connection to each, and the tools as the loop sees them.

An MCP server is a program the user chose to run (or a URL they chose to call), outside memos's
sandbox: memos starts it, lists its tools and calls them with a timeout, and records each call
like any other tool call.
"""
