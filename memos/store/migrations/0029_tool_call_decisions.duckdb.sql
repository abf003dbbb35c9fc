-- What a person or client decided for a call that waited (approve, deny, or return: the
-- client's own result), with the reason given, and the batch it was decided in (the first call
-- of that decision): listed back as Letta's approval_response_message before the results.
ALTER TABLE tool_calls ADD COLUMN decision VARCHAR;
ALTER TABLE tool_calls ADD COLUMN decision_reason VARCHAR;
ALTER TABLE tool_calls ADD COLUMN decision_batch VARCHAR;
