-- The id a client gives a message it sends (Letta's otid): a retry of the same message is
-- recognised and answered once rather than stored and answered again. (No index: DuckDB's
-- indexes trip on updates of indexed rows; a lookup by agent and otid scans one agent's rows.)
ALTER TABLE messages ADD COLUMN otid VARCHAR;
