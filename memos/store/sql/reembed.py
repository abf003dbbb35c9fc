"""Moving an agent's passages to another embedding model (`memos archival reembed`), both backends.

New vectors are staged in ``reembed_vectors`` batch by batch, each batch its own transaction, so
a run that is stopped (Ctrl-C, kill -9) resumes where it was: the passages still to embed are
those without a staged vector for that model. Searches keep using the old vectors all along. The
switch is one transaction: if every passage has its new vector it replaces the old ones and the
agent's model together; if a passage arrived meanwhile (a turn kept writing), nothing changes
and the caller embeds the newcomers first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from memos.store.search import vector_literal
from memos.store.sql.host import SQLHost
from memos.store.timeutil import to_db, utcnow

if TYPE_CHECKING:
    import numpy as np

_MISSING = ("FROM passages p WHERE p.agent_id = $agent AND NOT EXISTS (SELECT 1 FROM reembed_vectors r "
            "WHERE r.agent_id = $agent AND r.model = $model AND r.seq = p.seq)")


class ReembedMixin(SQLHost):
    _vector_type = "FLOAT[]"  # what a vector's text form is cast to in this dialect

    def reembed_pending(self, agent_id: str, model: str, limit: int) -> list[tuple[int, str]]:
        """(seq, text) of up to ``limit`` passages that have no staged vector for ``model`` yet."""
        with self._read() as con:
            return [(int(seq), text) for seq, text in con.execute(
                f"SELECT p.seq, p.text {_MISSING} ORDER BY p.seq LIMIT $limit",
                {"agent": agent_id, "model": model, "limit": limit}).fetchall()]

    def reembed_counts(self, agent_id: str, model: str) -> tuple[int, int, int]:
        """(passages, of them still to embed for ``model``, characters still to embed)."""
        with self._read() as con:
            total = con.execute("SELECT count(*) FROM passages WHERE agent_id = ?", [agent_id]).fetchone()[0]
            missing, chars = con.execute(f"SELECT count(*), coalesce(sum(length(p.text)), 0) {_MISSING}",
                                         {"agent": agent_id, "model": model}).fetchone()
        return int(total), int(missing), int(chars)

    def stage_vectors(self, agent_id: str, model: str, seqs: Sequence[int], matrix: np.ndarray) -> None:
        """Keep new vectors for these passages (a passage deleted meanwhile is simply skipped at the switch)."""
        if not len(seqs):
            return
        self._prepare_width(int(matrix.shape[1]))
        with self._write() as con:
            con.execute(f"INSERT INTO reembed_vectors (agent_id, model, seq, embedding) "
                        f"SELECT $agent, $model, unnest($seqs::BIGINT[]), unnest($vectors::VARCHAR[])::{self._vector_type} "
                        f"ON CONFLICT DO NOTHING",
                        {"agent": agent_id, "model": model, "seqs": [int(s) for s in seqs],
                         "vectors": [vector_literal(row) for row in matrix]})

    def switch_embedding_model(self, agent_id: str, model: str) -> bool:
        """Put the staged vectors in place and the agent on ``model``, at once; False (and nothing
        changed) while some passage still lacks its new vector."""
        with self._write() as con:
            self._lock(con, agent_id, "passage-seq")
            params = {"agent": agent_id, "model": model}
            if con.execute(f"SELECT count(*) {_MISSING}", params).fetchone()[0]:
                return False
            con.execute("UPDATE passages SET embedding = r.embedding, embedding_model = $model FROM reembed_vectors r "
                        "WHERE r.agent_id = $agent AND r.model = $model AND r.seq = passages.seq "
                        "AND passages.agent_id = $agent", params)
            con.execute("UPDATE agents SET embedding_model = ?, updated_at = ? WHERE id = ?",
                        [model, to_db(utcnow()), agent_id])
            con.execute("DELETE FROM reembed_vectors WHERE agent_id = ?", [agent_id])
            self._after_reembed(con, agent_id)
        return True

    def _prepare_width(self, width: int) -> None:
        """What a backend needs before vectors of this width are stored (PostgreSQL: their index)."""

    def _after_reembed(self, con: Any, agent_id: str) -> None:
        """What a backend does once an agent's vectors changed model (inside the transaction)."""
