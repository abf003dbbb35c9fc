-- An agent's structured-output format (Letta's response_format: {"type": "json_schema", "json_schema": {...}}
-- or {"type": "json_object"}), sent with each LLM request; NULL: plain text.
ALTER TABLE agents ADD COLUMN response_format JSON;
