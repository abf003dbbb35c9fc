-- Which passages were written together (issue 32): one conversation, one file's chunks, one
-- import share a batch; hybrid search lends neighbour context only within a batch, never across
-- independent notes. NULL: a passage of its own. Passages stored before this get the batch of
-- the insert that wrote them (every passage of one insert has its time).
-- (Unlike 0021's change of type, adding a column needs no DROP of the seq index; dropping and
-- making it again in the same transaction as this ADD COLUMN crashed DuckDB 1.5.5 at commit.)
ALTER TABLE passages ADD COLUMN batch BIGINT;
UPDATE passages SET batch = firsts.first_seq
FROM (SELECT agent_id, created_at, min(seq) AS first_seq FROM passages GROUP BY agent_id, created_at) AS firsts
WHERE firsts.agent_id = passages.agent_id AND firsts.created_at = passages.created_at;
