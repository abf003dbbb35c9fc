"""Many rows into DuckDB in one statement, without pyarrow (168 MiB of a user's install).

Each column goes in as one list parameter. A column of vectors would go in as Python floats,
one object per number (2.5 s for 1,000 MiniLM vectors); it goes instead through DuckDB's scan
of a flat float32 NumPy array, grouped back into one list per row inside the engine (55 ms).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, cast

import numpy as np

from memos.store.duckdb.connection import unwrapped


def skip_pandas_lookups() -> None:
    """DuckDB tries `import pandas` for every bound parameter it converts; without pandas each
    failed import rescans sys.path (31 ms to bind one 384-float list). Python's own "this
    import fails" marker, None in sys.modules, makes those imports fail at once (and
    importlib.util.find_spec then answers None, as it would)."""
    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is None:
        sys.modules["pandas"] = cast(ModuleType, None)


def insert_rows(con: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) into ``table``. A column whose values are
    NumPy arrays is a column of vectors (one width per call)."""
    if not rows:
        return
    skip_pandas_lookups()
    values = [list(column) for column in zip(*rows)]
    vector_columns = [i for i, column in enumerate(values) if isinstance(column[0], np.ndarray)]
    params: dict[str, Any] = {f"c{i}": column for i, column in enumerate(values) if i not in vector_columns}
    names = ", ".join(columns)
    if not vector_columns:
        picked = ", ".join(f"unnest($c{i})" for i in range(len(columns)))
        con.execute(f"INSERT INTO {table} ({names}) SELECT {picked}", params)
        return
    if len(vector_columns) > 1:
        raise ValueError("one column of vectors per insert")
    (vector_column,) = vector_columns
    matrix = np.stack([np.asarray(v, dtype=np.float32) for v in values[vector_column]])
    # DuckDB finds a NumPy dict by its variable name in the frame that calls execute (a
    # replacement scan: con.register would cost a millisecond more, a third of a passage's insert).
    memos_new_vectors = {"k": np.arange(matrix.size, dtype=np.int64), "v": matrix.reshape(-1)}  # noqa: F841
    picked = ", ".join("vector" if i == vector_column else f"$c{i}[r + 1]" for i in range(len(columns)))
    sql = (f"INSERT INTO {table} ({names}) SELECT {picked} FROM "
           "(SELECT (k // $width)::BIGINT AS r, list(v ORDER BY k) AS vector FROM memos_new_vectors GROUP BY r)")
    unwrapped(con, sql).execute(sql, {**params, "width": matrix.shape[1]})
