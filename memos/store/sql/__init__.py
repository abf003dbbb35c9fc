"""The parts of the `Store` both SQL backends (DuckDB, PostgreSQL) share."""
