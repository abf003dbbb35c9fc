"""`memos serve`: a Letta-compatible REST API (FastAPI), a front end over memos's core."""
