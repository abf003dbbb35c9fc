-- An agent's cap on the tokens of one reply (max_tokens / max_completion_tokens in each LLM request);
-- NULL: the server's own default.
ALTER TABLE agents ADD COLUMN max_tokens INTEGER;
