-- The id a client gives a message it sends (Letta's otid): a retry of the same message, through
-- any replica, is recognised and answered once rather than stored and answered again.
ALTER TABLE messages ADD COLUMN otid VARCHAR;
CREATE INDEX messages_by_otid ON messages (agent_id, otid) WHERE otid IS NOT NULL;
