-- What a client asked of a run's messages when it started one in the background (Letta's
-- request_config: include_return_message_types), applied when they are read back; NULL: nothing.
ALTER TABLE runs ADD COLUMN request_config JSON;
