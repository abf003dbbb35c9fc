"""An agent's own tools: a git repository of Python files, one tool per file, with tests.

Layout of ``$MEMOS_HOME/agents/<name>/tools/``::

    README.md           what the repo is and how its files are read
    pytest.ini          so `pytest` finds the tools from tests/
    <tool>.py           def <tool>(...) with type hints and a docstring
    _helpers.py         modules starting with "_" are shared code, not tools
    <tool>.schema.json  optional: the tool's schema as given (a Letta client's json_schema), for
                        code whose type hints cannot say it
    tests/test_<tool>.py

Every change memos makes is a commit with a ``Memos-Made`` trailer (evolution
uses it to tell its own commits from a person's).
"""

from __future__ import annotations

import keyword
import re
import shutil
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import git


AUTHOR_NAME, AUTHOR_EMAIL = "memos", "memos@localhost"
MEMOS_TRAILER = "Memos-Made"
TOOL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
SOURCE_SUFFIXES = {".py", ".ini", ".toml", ".cfg", ".txt", ".json", ".md"}
MAX_SOURCE_BYTES = 2 << 20

README = """# Tools of agent {agent}

Custom tools for the memos agent `{agent}`. Each `<name>.py` at the top level
holds one tool: a function named like the file, with type hints and a
docstring (Google or NumPy style, every argument described). The docstring is
what the model reads. Files starting with `_` are shared helpers, not tools.
Tests live in `tests/` and run with `memos tools test` inside the sandbox.

Tools run in a sandbox: no network, no files outside a temporary working
directory, limited CPU time, memory and output. Return JSON-serialisable values.

Changes made through memos are commits. Edit by hand if you like, then
`memos tools commit`.
"""

PYTEST_INI = "[pytest]\npythonpath = .\ntestpaths = tests\n"
GITIGNORE = "__pycache__/\n*.pyc\n.pytest_cache/\n"

TOOL_TEMPLATE = '''"""{description}"""


def {name}(text: str) -> str:
    """{description}

    Args:
        text: The input to work on.

    Returns:
        The result, as text the agent reads.
    """
    return text
'''

TEST_TEMPLATE = '''from {name} import {name}


def test_{name}_returns_its_input() -> None:
    assert {name}("hello") == "hello"
'''


# Modules the sandbox imports by name: a tool file of the same name, first on the sandbox's path,
# would stand in for them (a tool named pytest broke `memos tools test` and evolution's checks).
SANDBOX_MODULES = frozenset({"pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py", "conftest", "tests",
                             "memos", "memos_tool_registry", "memos_landlock", "memos_seccomp"})


def check_tool_name(name: str) -> str:
    # A name may start with "test" (Letta allows testing_method): pytest.ini's `testpaths = tests`
    # keeps pytest from collecting a top-level test_*.py tool as a test module.
    if not TOOL_NAME.match(name) or keyword.iskeyword(name):
        raise InvalidInput(f"'{name}' is not a valid tool name",
                           "use lower-case letters, digits and '_', starting with a letter (a Python identifier)")
    if name in SANDBOX_MODULES or name in sys.stdlib_module_names:
        raise InvalidInput(f"'{name}' is the name of a Python module the sandbox uses, not free for a tool",
                           f"name it something else, e.g. {name}_tool")
    return name


FILES_AT_KEPT = 64  # commits' files kept in memory (a few agents' mains and canaries)
_FILES_AT: dict[tuple[str, str], dict[str, str]] = {}
_FILES_AT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Change:
    status: str  # added, modified, deleted, untracked
    path: str


class ToolRepo:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def ensure(cls, path: Path, agent_name: str) -> ToolRepo:
        """The repo at ``path``, created with its README and first commit when missing."""
        repo = cls(path)
        if not (path / ".git").exists():
            import git

            path.mkdir(parents=True, exist_ok=True)
            git.Repo.init(path, initial_branch="main")
            (path / "tests").mkdir(exist_ok=True)
            for name, text in (("README.md", README.format(agent=agent_name)), ("pytest.ini", PYTEST_INI),
                               (".gitignore", GITIGNORE), ("tests/__init__.py", "")):
                if not (path / name).exists():
                    (path / name).write_text(text)
            repo.commit_all(f"Start the tool repo of agent {agent_name}")
        return repo

    # -- git ---------------------------------------------------------------------------
    @property
    def git(self) -> git.Repo:
        import git

        return git.Repo(self.path)

    def head(self) -> str | None:
        repo = self.git
        return None if not repo.head.is_valid() else repo.head.commit.hexsha

    def changes(self) -> list[Change]:
        """Uncommitted changes, new files included (what a person edited by hand)."""
        out = []
        for line in self.git.git.status("--porcelain", "--untracked-files=all").splitlines():
            code, path = line[:2], line[3:].split(" -> ")[-1].strip('"')
            status = ("untracked" if code == "??" else "deleted" if "D" in code else
                      "added" if "A" in code else "modified")
            out.append(Change(status, path))
        return sorted(out, key=lambda c: c.path)

    def commit_all(self, message: str, trailers: dict[str, str] | None = None) -> str | None:
        """Stage everything and commit with the memos trailer; None when there is nothing to commit."""
        import git

        repo = self.git
        repo.git.add(A=True)
        if repo.head.is_valid() and not repo.index.diff("HEAD"):
            return None
        body = "\n".join(f"{k}: {v}" for k, v in {MEMOS_TRAILER: "true", **(trailers or {})}.items())
        actor = git.Actor(AUTHOR_NAME, AUTHOR_EMAIL)
        commit = repo.index.commit(f"{message}\n\n{body}\n", author=actor, committer=actor)
        return commit.hexsha

    def log(self, limit: int = 20) -> list[dict[str, Any]]:
        repo = self.git
        if not repo.head.is_valid():
            return []
        return [{"commit": c.hexsha, "summary": c.summary, "author": c.author.name,
                 "date": c.committed_datetime.isoformat(), "memos_made": f"{MEMOS_TRAILER}: true" in c.message}
                for c in repo.iter_commits(max_count=limit)]

    # -- files -------------------------------------------------------------------------
    def tool_file(self, name: str) -> Path:
        return self.path / f"{check_tool_name(name)}.py"

    def test_file(self, name: str) -> Path:
        return self.path / "tests" / f"test_{name}.py"

    def tool_names(self) -> list[str]:
        return tool_names_in(p.name for p in self.path.glob("*.py"))

    def files_at(self, commit: str) -> dict[str, str]:
        """The source files of a commit, as the sandbox takes them (what `source_files` reads from disk).
        A commit never changes, so what was read is kept (a turn on a shared store loads its tools
        from main's commit: reading it through git each time cost ~8 ms)."""
        key = (str(self.path), commit)
        with _FILES_AT_LOCK:
            files = _FILES_AT.get(key)
        if files is None:
            files = self.files_of_tree(self.git.commit(commit).tree.hexsha)
            with _FILES_AT_LOCK:
                if len(_FILES_AT) >= FILES_AT_KEPT:
                    _FILES_AT.pop(next(iter(_FILES_AT)))
                _FILES_AT[key] = files
        return dict(files)

    def files_of_tree(self, tree_sha: str) -> dict[str, str]:
        from git import Blob, Tree  # GitPython, imported on first use

        tree = Tree(self.git, bytes.fromhex(tree_sha), mode=Tree.tree_id << 12, path="")
        files = {}
        for item in tree.traverse():
            if isinstance(item, Blob) and Path(item.path).suffix in SOURCE_SUFFIXES:
                files[str(item.path)] = item.data_stream.read().decode("utf-8", errors="replace")
        return files

    def source_files(self, root: Path | None = None) -> dict[str, str]:
        """Every text file of the tree (not .git) as {relative path: text}: what the sandbox receives."""
        base = root or self.path
        files: dict[str, str] = {}
        total = 0
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base)
            if path.is_dir() or relative.parts[0] == ".git" or "__pycache__" in relative.parts:
                continue
            if path.suffix not in SOURCE_SUFFIXES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            total += len(text)
            if total > MAX_SOURCE_BYTES:
                raise InvalidInput(f"the tool repo at {base} holds more than {MAX_SOURCE_BYTES:,} bytes of source",
                                   "move data files out of it")
            files[str(relative)] = text
        return files

    def new_tool(self, name: str, description: str) -> Path:
        path = self.tool_file(name)
        if path.exists():
            raise InvalidInput(f"a tool named '{name}' already exists", f"edit it with `memos tools edit {name}`")
        description = " ".join(description.split()) or f"The {name} tool."
        path.write_text(TOOL_TEMPLATE.format(name=name, description=description.replace('"""', "'''")))
        test = self.test_file(name)
        test.parent.mkdir(exist_ok=True)
        if not test.exists():
            test.write_text(TEST_TEMPLATE.format(name=name))
        return path

    def import_file(self, source: Path, name: str | None = None) -> Path:
        if not source.is_file():
            raise NotFound(f"no file at {source}", "give the path of a Python file holding one tool")
        target = self.tool_file(name or source.stem)
        if target.exists():
            raise InvalidInput(f"a tool named '{target.stem}' already exists",
                               f"remove it first with `memos tools rm {target.stem}` or pass --name")
        shutil.copyfile(source, target)
        return target

    def remove_tool(self, name: str) -> list[Path]:
        path = self.tool_file(name)
        if not path.exists():
            raise NotFound(f"no tool named '{name}' in the repo", "see `memos tools list`")
        removed = [p for p in (path, self.test_file(name)) if p.exists()]
        for p in removed:
            p.unlink()
        return removed


def tool_names_in(paths: Iterable[str]) -> list[str]:
    """The tools among a repo's file paths: top-level ``<name>.py`` not starting with ``_``."""
    stems = (p[:-3] for p in paths if p.endswith(".py") and "/" not in p and not p.startswith("_"))
    return sorted(s for s in stems if TOOL_NAME.match(s) and not keyword.iskeyword(s))
