"""A read-only home and a full disk: reads go on, writes fail in one line, nothing is half-written.

On 6c4d22d a read-only home failed even `agents list` and `doctor` ("unexpected failure ...
Read-only file system: memos.duckdb.lock"), and a full disk gave "unexpected failure"
tracebacks and plain-text 500s. Each case runs memos in a mount namespace of its own (a
read-only bind mount, a small tmpfs), which needs root, as CI has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MEMOS_BIN

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")


def _namespaced(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a bash script in a new mount namespace (its mounts vanish with it)."""
    done = subprocess.run(["unshare", "-m", "bash", "-euo", "pipefail", "-c", script], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300)
    return done


def _outcomes(stdout: str) -> dict[str, dict]:
    """The script prints one JSON line per command: {"step", "code", "out", "err"}."""
    return {line["step"]: line for line in map(json.loads, stdout.splitlines()) if line}


RUN = """
step() {{ name=$1; shift; set +e; out=$("$@" 2>/tmp/err.$$); code=$?; set -e
  python3 -c 'import json,sys; print(json.dumps({{"step": sys.argv[1], "code": int(sys.argv[2]), "out": sys.argv[3],
  "err": open(sys.argv[4]).read()}}))' "$name" "$code" "$out" /tmp/err.$$; }}
M={memos}
"""


def test_a_read_only_home_can_be_read_and_checked(memos, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    assert memos("agents", "create", "ada").code == 0
    assert memos("memory", "set", "human", "Name: Ana").code == 0
    assert memos("archival", "add", "Ana's cat is called Miso.").code == 0
    script = RUN.format(memos=MEMOS_BIN) + f"""
mount --bind {memos_home} {memos_home}
mount -o remount,bind,ro {memos_home}
step list $M agents list --json
step show $M memory show human
step hybrid $M archival search "what is the cat called" --json
step text $M archival search Miso --mode text --json
step doctor $M doctor
step write $M memory set human "Name: Eve"
"""
    done = _namespaced(script, {})
    assert done.returncode == 0, done.stderr
    seen = _outcomes(done.stdout)
    assert seen["list"]["code"] == 0 and json.loads(seen["list"]["out"])[0]["name"] == "ada"
    assert seen["show"]["out"].strip() == "Name: Ana"
    for mode in ("hybrid", "text"):
        assert seen[mode]["code"] == 0, seen[mode]
        assert "Miso" in json.loads(seen[mode]["out"])[0]["text"]
    assert seen["doctor"]["code"] == 0, seen["doctor"]
    assert "read-only: checked, nothing repaired" in seen["doctor"]["out"]
    write = seen["write"]
    assert write["code"] == 1 and write["err"].count("\n") == 1 and "read-only" in write["err"]
    assert "unexpected" not in write["err"] and "Traceback" not in write["err"]
    assert memos("memory", "show", "human").out.strip() == "Name: Ana"


SERVE_ON_FULL_DISK = """
from fastapi.testclient import TestClient
from memos.core.workspace import Workspace
from memos.server.app import create_app
import json
ws = Workspace()
agent = ws.store.get_agent("ada").id
with TestClient(create_app(ws), base_url="http://127.0.0.1:8283", raise_server_exceptions=False) as http:
    added = http.post(f"/v1/agents/{agent}/archival-memory", json={"text": "Ana moved to Lisbon."})
    block = http.patch(f"/v1/agents/{agent}/core-memory/blocks/human", json={"value": "Name: Eve"})
    read = http.get(f"/v1/agents/{agent}/archival-memory")
print(json.dumps({"step": "serve", "code": 0, "out": json.dumps([
    [added.status_code, added.headers["content-type"], added.json()],
    [block.status_code, block.headers["content-type"], block.json()],
    [read.status_code, len(read.json())]]), "err": ""}))
"""


def test_a_full_disk_refuses_writes_in_one_line_and_loses_nothing(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    home = mount / "home"
    script = RUN.format(memos=MEMOS_BIN) + f"""
mount -t tmpfs -o size=24m tmpfs {mount}
step create $M agents create ada
step set1 $M memory set human "Name: Ana"
step add1 $M archival add "Ana's cat is called Miso."
dd if=/dev/zero of={mount}/filler bs=64k 2>/dev/null || true
step set2 $M memory set human "Name: Eve"
step add2 $M archival add "Ana moved to Lisbon."
step create2 $M agents create bob
step show $M memory show human
cat > {tmp_path}/serve.py <<'PY'
{SERVE_ON_FULL_DISK}
PY
{sys.executable} {tmp_path}/serve.py
rm {mount}/filler
step doctor $M doctor --no-repair
step list $M archival list --json
step after $M memory set human "Name: Ana Lee"
"""
    done = _namespaced(script, {"MEMOS_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    seen = _outcomes(done.stdout)
    for step in ("create", "set1", "add1"):
        assert seen[step]["code"] == 0, seen[step]
    for step in ("set2", "add2", "create2"):
        failed = seen[step]
        assert failed["code"] == 1 and failed["err"].count("\n") == 1, failed
        assert "the disk is full" in failed["err"] and "Traceback" not in failed["err"], failed
    assert seen["show"]["out"].strip() == "Name: Ana"
    (added, block, read) = json.loads(seen["serve"]["out"])
    for status, kind, body in (added, block):
        assert status == 507 and kind == "application/json" and "disk is full" in body["detail"], (status, body)
    assert read == [200, 1]
    assert seen["doctor"]["code"] == 0, seen["doctor"]  # nothing half-written
    assert [p["text"] for p in json.loads(seen["list"]["out"])] == ["Ana's cat is called Miso."]
    assert seen["after"]["code"] == 0, seen["after"]
