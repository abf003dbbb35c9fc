"""The embedded default backend: one DuckDB file shared by several processes."""
