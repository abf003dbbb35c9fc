-- Agents' tags (Letta's agent tags): a JSON list of strings, filtered on by the API and the CLI.
ALTER TABLE agents ADD COLUMN tags JSON;
