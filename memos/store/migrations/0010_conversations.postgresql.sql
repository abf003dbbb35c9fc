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
CREATE INDEX conversations_agent ON conversations (agent_id, created_at);
ALTER TABLE messages ADD COLUMN conversation_id VARCHAR;
ALTER TABLE runs ADD COLUMN conversation_id VARCHAR;
CREATE INDEX messages_conversation_seq ON messages (conversation_id, seq) WHERE conversation_id IS NOT NULL;
