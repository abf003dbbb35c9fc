-- Who a run was for (the agent's turns, or a sleep pass's LLM calls), and per step the cached
-- prompt tokens and the step's whole time (LLM, tools and writes), for `memos runs` and `memos usage`.
ALTER TABLE runs ADD COLUMN actor VARCHAR DEFAULT 'agent';
ALTER TABLE steps ADD COLUMN cached_tokens INTEGER DEFAULT 0;
ALTER TABLE steps ADD COLUMN duration_ms DOUBLE PRECISION;
CREATE INDEX steps_run ON steps (run_id);
CREATE INDEX steps_created ON steps (created_at);
CREATE INDEX tool_calls_step ON tool_calls (step_id);
CREATE INDEX runs_agent_created ON runs (agent_id, created_at);
