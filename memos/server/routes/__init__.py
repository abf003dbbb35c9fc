"""One router per resource, in Letta's paths."""
