-- The system message as the model last read it, per conversation ('' is the agent's own): the
-- first message of the log as listed. It is written by each step and by a recompile, and
-- nothing else: a block changed between turns shows in the next step's prompt, but what the
-- log lists stays what the model read until then (Letta keeps a conversation's system message
-- until it is recompiled).
CREATE TABLE system_messages (
    agent_id VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    compiled_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, conversation_id)
);
