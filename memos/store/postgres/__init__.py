"""The PostgreSQL + pgvector backend of `Store`, for a server shared by a team."""
