-- Conversations (Letta's): several threads of one agent that share its memory blocks. A message
-- and a run belong to one conversation; NULL is the agent's own (default) conversation.
CREATE TABLE conversations (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    name VARCHAR,
    summary VARCHAR,
    model VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_message_at TIMESTAMP
);
ALTER TABLE messages ADD COLUMN conversation_id VARCHAR;
ALTER TABLE runs ADD COLUMN conversation_id VARCHAR;
