"""What every pane needs from the app, typed once."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.dom import DOMNode
from textual.widgets import DataTable

if TYPE_CHECKING:
    from memos.tui.app import MemosApp


def memos_app(node: DOMNode) -> MemosApp:
    """The running MemosApp (its workspace and chosen agent). Textual types ``node.app`` as
    any App; memos's widgets only ever run inside MemosApp, so the cast is made here, once."""
    return cast("MemosApp", node.app)


def selected_key(table: DataTable[object]) -> str | None:
    """The key of the row under a table's cursor (None when the table is empty)."""
    if not table.row_count:
        return None
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
