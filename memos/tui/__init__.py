"""`memos tui`: a Textual front end. Every action is a core call, as in the CLI."""
