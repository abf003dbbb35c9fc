-- Embeddings of any width (issue 32): each agent embeds with its own model, so a passage's
-- vector is a list of whatever length that model gives (all of one agent's have one length;
-- core/archival.py keeps it so). The seq index depends on the table and must go while the
-- column changes type.
DROP INDEX passages_seq;
ALTER TABLE passages ALTER COLUMN embedding TYPE FLOAT[];
CREATE INDEX passages_seq ON passages (seq);
ALTER TABLE file_chunks ALTER COLUMN vector TYPE FLOAT[];
-- `memos archival reembed`: new vectors wait here, batch by batch (so a run resumes after a
-- kill), until the agent switches to them in one transaction.
CREATE TABLE reembed_vectors (
    agent_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    embedding FLOAT[] NOT NULL,
    PRIMARY KEY (agent_id, model, seq)
);
