-- A tool that must be approved before each call (Letta's default_requires_approval): on a library
-- tool, the default its copies inherit; on an agent's own row, what gates that agent's calls.
ALTER TABLE tools ADD COLUMN requires_approval BOOLEAN;
