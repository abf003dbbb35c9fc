"""The exceptions memos raises on purpose.

Every one carries a message saying what failed and, where there is one, a hint
saying what to do. Front ends print ``error: <message> (<hint>)`` and exit 1;
they never show a traceback for these.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), for one-line errors
    that wrap a library's multi-line ones."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class MemosError(Exception):
    """Base of every error a user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class NotFound(MemosError):
    """An agent, block, message or passage that does not exist."""


class AlreadyExists(MemosError):
    """A name or label that is already taken."""


class AlreadyAnswered(AlreadyExists):
    """A retried message (same otid) whose turn had already ended: its answer is stored."""


class InvalidInput(MemosError):
    """Input that cannot be used as given (empty, malformed, wrong type)."""


class BadAgentFile(InvalidInput):
    """An agent file (.af) that cannot be read or is not one (Letta answers these with 400)."""


class Contradictory(InvalidInput):
    """A request whose parts say different things (a tool's new source and new schema naming
    different functions); Letta answers these with 400."""


class NothingToDo(InvalidInput):
    """A request that is well formed but finds nothing to act on: no running turn to stream,
    nothing in context to compact (Letta answers these with 400)."""


class NothingRunning(MemosError):
    """Nothing is running to cancel (Letta answers with 409)."""


class LimitExceeded(MemosError):
    """A value over a block's character limit."""


class NotAllowed(MemosError):
    """A request this server or command is not set up to grant (HTTP 403), with how to allow it."""


class ReadOnly(MemosError):
    """An agent edit to a read-only block."""


class ConfigError(MemosError):
    """A bad config key or value."""


class DatabaseBusy(MemosError):
    """The database stayed locked by another process past the retry budget."""


class DatabaseUnavailable(MemosError):
    """The configured database server cannot be reached or refused memos."""


class SchemaTooNew(MemosError):
    """The database was written by a newer memos."""


class SchemaInconsistent(MemosError):
    """The record of applied migrations does not match the tables (a row deleted or edited by hand)."""


class EmbeddingError(MemosError):
    """The embedding model cannot be used with this store."""


class ProviderError(MemosError):
    """An LLM or embedding provider refused or failed."""


class ToolCodeFailed(MemosError):
    """A tool's own code raised (its message names the exception): the agent reads it in Letta's
    words, "Error executing function NAME: ValueError: ..." (core.agent)."""


class EditConflict(MemosError):
    """A whole-block rewrite based on a version of the block that someone has changed since."""


class AgentBusy(MemosError):
    """Another turn of the agent is running (in this or another process) and the caller would not wait."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class ToolCodeMoved(MemosError):
    """An agent's tool code changed in the shared store after this process read it (another
    replica published first): nothing was written; read it again and redo the change."""


class TurnLost(AgentBusy):
    """This process's turn was taken over by another replica (this one had stopped answering,
    its lease lapsed): what it still wanted to write for the turn was refused."""


class StorageProblem(MemosError):
    """The disk is full, or memos's files are read-only. Transactions keep the store whole:
    what failed was not written at all."""


def storage_problem(exc: BaseException) -> StorageProblem | None:
    """A full disk or a read-only file system behind ``exc`` (or what caused it), as one line."""
    import errno

    seen: BaseException | None = exc
    for _ in range(8):  # the exception and what it was raised from
        if seen is None:
            return None
        code = getattr(seen, "errno", None)
        text = str(seen)
        if code in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in text or "Disk quota exceeded" in text:
            return StorageProblem("the disk is full: memos could not write, and nothing was half-written",
                                  "free some space and run it again")
        if code == errno.EROFS or "Read-only file system" in text:
            return StorageProblem("memos's files are on a read-only file system: they can be read, not changed",
                                  "make MEMOS_HOME writable, or point MEMOS_HOME at a writable copy")
        seen = seen.__cause__ or seen.__context__
    return None
