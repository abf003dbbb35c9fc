-- Letta's tool settings: tags (a JSON list of strings) and return_char_limit (the longest result
-- the agent reads from the tool; NULL: memos's own cap).
ALTER TABLE tools ADD COLUMN tags JSON;
ALTER TABLE tools ADD COLUMN return_char_limit INTEGER;
