-- A person's verdict on one step (Letta's step feedback: positive or negative, with tags), so a
-- reviewer can mark what went well or wrong where it happened.
ALTER TABLE steps ADD COLUMN feedback VARCHAR;
ALTER TABLE steps ADD COLUMN feedback_tags JSON;
