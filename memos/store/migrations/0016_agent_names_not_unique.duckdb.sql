-- Nothing to change: DuckDB's agents table never had a unique name (see the PostgreSQL file).
SELECT 1;
