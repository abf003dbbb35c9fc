"""docs/letta-compat.md is what scripts/letta_compat.py makes of memos's server and Letta 0.16.8's
routes now: the compatibility table cannot drift from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_letta_compatibility_table_is_up_to_date(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "letta_compat.py"), "--check"],
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "MEMOS_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr


def test_the_table_counts_what_the_server_serves() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import letta_compat
    finally:
        sys.path.pop(0)
    served = letta_compat.memos_routes()
    assert ("DELETE", "/v1/tools/{}") in served and ("GET", "/v1/runs") in served
    letta = {(m, letta_compat._shape(p)) for m, p, _ in letta_compat.letta_routes()}
    assert ("PATCH", "/v1/agents/{}/reset-messages") in letta & served
    assert ("GET", "/v1/conversations") in letta & served
    assert ("POST", "/v1/conversations/{}/stream") in letta & served
    assert ("GET", "/v1/identities") in letta & served
    assert ("POST", "/v1/agents/{}/schedule") in letta & served
    assert ("POST", "/v1/archives/{}/passages/batch") in letta & served
    assert ("GET", "/v1/providers") in letta - served  # not served, and the table says why
    table = (ROOT / "docs" / "letta-compat.md").read_text()
    assert "| providers | 0 | 8 | provider records:" in table
