"""`memos chat`: an interactive session with an agent.

Replies stream as they come; tool calls and memory edits show compactly (an
edit shows its diff). Slash commands come from one registry, so /help is
generated from it. Ctrl-C during a reply stops it and keeps the partial reply;
Ctrl-C at the prompt exits with 130, Ctrl-D with 0.
"""

from __future__ import annotations

import difflib
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import AgentOpt
from memos.core.limits import DEFAULT_MAX_STEPS
from memos.tools.reply import REPLY_TOOL

if TYPE_CHECKING:
    from memos.core.agent import AgentRunner


@dataclass(frozen=True)
class SlashCommand:
    name: str
    arguments: str
    description: str
    handler: Callable[[ChatSession, str], None]


COMMANDS: dict[str, SlashCommand] = {}


def slash(name: str, arguments: str, description: str) -> Callable[[Callable[[ChatSession, str], None]], Any]:
    def register(handler: Callable[[ChatSession, str], None]) -> Callable[[ChatSession, str], None]:
        COMMANDS[name] = SlashCommand(name, arguments, description, handler)
        return handler

    return register


PROMPT = "you> "


class ChatSession:
    def __init__(self, agent_name: str | None, model: str | None, max_steps: int,
                 conversation: str | None = None) -> None:
        from memos.core.conversations import open_conversation
        from memos.core.workspace import Workspace

        self.ws = Workspace()
        self.model_override = model
        self.max_steps = max_steps
        self.running = True
        self.turn_usage: list[Any] = []  # the Usage events of the last turn, and of the whole session
        self.session_usage: list[Any] = []
        self.console = output.out()
        self.notices: list[str] = []  # from the tool watcher's thread, shown between turns
        self.at_prompt = False
        self.watcher: Any = None
        agent = self.ws.resolve_agent(agent_name)
        self.conversation, created = open_conversation(self.ws.store, agent, conversation)
        if created:
            self.notices.append(f"started conversation '{conversation}'")
        self.runner: AgentRunner = self._start(agent)

    def _start(self, agent: Any) -> AgentRunner:
        """A runner for ``agent`` with its custom tools, watched for changes while the chat runs."""
        from memos.core.agent import AgentRunner
        from memos.tools.custom import custom_tools_for
        from memos.tools.reload import ToolWatcher

        if self.watcher is not None:
            self.watcher.stop()
            self.watcher.tools.close()
        tools, warnings = custom_tools_for(self.ws, agent, always=True, warm=1)
        self.notices.extend(warnings)
        assert tools is not None
        self.watcher = ToolWatcher(tools, self._notice).start()
        return AgentRunner(self.ws, agent, model=self.model_override, max_steps=self.max_steps, custom_tools=tools,
                           conversation=self.conversation)

    def _notice(self, message: str) -> None:
        """From the watcher thread: shown at once while the prompt waits, else after the reply."""
        self.notices.append(message)
        if self.at_prompt:
            sys.stdout.write("\r")
            self.show_notices()
            try:
                import readline

                typed = readline.get_line_buffer()
            except ImportError:
                typed = ""
            sys.stdout.write(PROMPT + typed)
            sys.stdout.flush()

    def switch(self, name: str) -> None:
        self.conversation = None  # another agent: its own conversation
        self.runner = self._start(self.ws.store.get_agent(name))

    def show_notices(self) -> None:
        while self.notices:
            notice = self.notices.pop(0)
            if "broken" in notice or "could not" in notice or "failed" in notice:
                output.warn(notice)
            else:
                output.note(notice)

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher.tools.close()

    # -- rendering ------------------------------------------------------------------------
    def render(self, events: Iterator[Any], cancel: threading.Event) -> None:
        from memos.core.events import consume
        from memos.core.reply_stream import with_reply_text

        events = with_reply_text(events)  # a send_message reply streams like plain text

        state: dict[str, Any] = {"streamed": "", "stop": None, "live": None}
        self.turn_usage = []
        # Markdown re-rendered as it streams on a real terminal; raw text where Rich cannot redraw.
        live_markdown = self.console.is_terminal and not self.console.is_dumb_terminal

        def end_live(final: str | None = None) -> None:
            live = state["live"]
            if live is not None:
                if final is not None:
                    live.update(self._markdown_renderable(final))
                live.stop()
                state["live"] = None

        def handle(event: Any) -> None:
            kind = event.type
            if kind == "assistant_delta":
                state["streamed"] += event.text
                if live_markdown:
                    if state["live"] is None:
                        from rich.live import Live

                        live = Live(console=self.console, refresh_per_second=12, vertical_overflow="visible")
                        live.start()
                        state["live"] = live
                    state["live"].update(self._markdown_renderable(state["streamed"]))
                else:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            elif kind == "assistant":
                if state["live"] is not None:
                    end_live(event.text)
                    state["streamed"] = ""
                elif state["streamed"]:
                    sys.stdout.write("\n")
                    state["streamed"] = ""
                else:
                    self._markdown(event.text)
            elif kind == "stop_reason":
                state["stop"] = event
            elif kind == "usage":
                self.turn_usage.append(event)
                self.session_usage.append(event)
            else:
                self._render_other(event)

        try:
            interrupted = consume(events, cancel, handle)
        finally:
            end_live()
        if interrupted:
            self.console.print("\n  (interrupted; the partial reply is kept)", style="dim")
            return
        if state["streamed"] and not live_markdown:
            sys.stdout.write("\n")
        stop = state["stop"]
        if stop is not None and stop.reason == "cancelled":
            self.console.print("  (interrupted; the partial reply is kept)", style="dim")
        elif stop is not None and stop.reason == "max_steps":
            output.warn(f"stopped after {stop.steps} steps")
        elif stop is not None and stop.reason == "requires_approval":
            self._ask_approval()

    def _render_other(self, event: Any) -> None:
        kind = event.type
        if kind == "tool_call" and event.name != REPLY_TOOL:
            args = event.arguments if isinstance(event.arguments, str) else \
                ", ".join(f"{k}={v!r}" for k, v in event.arguments.items())
            self.console.print(f"  ⚙ {event.name}({output.shorten(args, 90)})", style="dim", markup=False)
        elif kind == "tool_return" and event.status == "error":
            self.console.print(f"  ✗ {output.shorten(event.result or '', 140)}", style="red", markup=False)
        elif kind == "memory_edit":
            self._diff(event)
        elif kind == "summary":
            self.console.print(f"  (summarised {event.evicted} older messages)", style="dim")
        elif kind == "warning":
            output.warn(event.message)
        elif kind == "approval_request":
            self.console.print(f"  ? {event.name} needs your approval: {event.arguments}", style="yellow",
                               markup=False)

    @staticmethod
    def _markdown_renderable(text: str) -> Any:
        from rich.markdown import Markdown

        return Markdown(text)

    def _markdown(self, text: str) -> None:
        if self.console.is_terminal:
            from rich.markdown import Markdown

            self.console.print(Markdown(text))
        else:
            output.plain(text)

    def _diff(self, event: Any) -> None:
        self.console.print(f"  ✎ memory '{event.label}' (version {event.version})", style="cyan", markup=False)
        for line in list(difflib.unified_diff(event.before.splitlines(), event.after.splitlines(), lineterm=""))[3:]:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            self.console.print(f"    {line}", style=style, markup=False)

    def _ask_approval(self) -> None:
        try:
            answer = input("approve? [y]es / [n]o / or type a reason to deny: ").strip()
        except (EOFError, KeyboardInterrupt):
            self.console.print("\n  (left waiting: /approve or /deny later)", style="dim")
            return
        if answer.lower() in ("y", "yes"):
            cancel = threading.Event()
            self.render(self.runner.approve(cancel), cancel)
        elif answer:
            cancel = threading.Event()
            self.render(self.runner.deny("" if answer.lower() in ("n", "no") else answer, cancel), cancel)
        else:
            self.console.print("  (left waiting: /approve or /deny later)", style="dim")

    def say(self, text: str) -> None:
        from memos.errors import MemosError

        cancel = threading.Event()
        self.show_notices()
        try:
            self.render(self.runner.send(text, cancel), cancel)
        except MemosError as exc:
            output.err().print(f"error: {exc}", style="red", markup=False)
            return
        from memos.core.reviews import start_reviews

        start_reviews(self.runner)


@slash("tools", "", "List the agent's tools (custom ones reload as their files change).")
def _tools(session: ChatSession, _: str) -> None:
    from memos.tools.manage import list_tools

    for row in list_tools(session.watcher.tools):
        state = "BROKEN " + (row.problem or "") if row.problem else ("attached" if row.attached else "detached")
        session.console.print(f"{row.name:<24} {row.kind:<8} {state}", markup=False)


@slash("usage", "", "Tokens and cost of the last turn, and of the whole session.")
def _usage(session: ChatSession, _: str) -> None:
    from memos.core.events import TurnResult
    from memos.core.observe import turn_usage_line

    if not session.session_usage:
        output.note("no LLM call yet in this session")
        return
    output.note("last turn: " + turn_usage_line(TurnResult(events=list(session.turn_usage)).usage))
    output.note("session:   " + turn_usage_line(TurnResult(events=list(session.session_usage)).usage))


@slash("help", "", "Show the slash commands.")
def _help(session: ChatSession, _: str) -> None:
    for command in COMMANDS.values():
        session.console.print(f"/{command.name} {command.arguments}".ljust(24) + command.description, markup=False)


@slash("memory", "[label]", "Show the memory blocks, or one block.")
def _memory(session: ChatSession, arg: str) -> None:
    store, agent = session.ws.store, session.runner.agent
    blocks = [store.get_agent_block(agent.id, arg)] if arg else store.list_agent_blocks(agent.id)
    for block in blocks:
        session.console.print(f"[{block.label}] {len(block.value):,}/{block.limit:,} chars", style="bold", markup=False)
        session.console.print(block.value or "(empty)", markup=False)


@slash("archival", "<query>", "Search archival memory.")
def _archival(session: ChatSession, arg: str) -> None:
    from memos.core import archival
    from memos.store.base import PassageQuery

    for hit in archival.search(session.ws.store, session.runner.agent, PassageQuery(text=arg, top_k=5)):
        session.console.print(f"{hit.score:.3f}  {output.shorten(hit.passage.text, 100)}", markup=False)


@slash("search", "<words>", "Search the conversation history.")
def _search(session: ChatSession, arg: str) -> None:
    for message in session.ws.store.search_messages(session.runner.agent.id, arg, limit=10):
        session.console.print(f"{output.when(message.created_at)}  {message.role}: {output.shorten(message.content, 90)}",
                              markup=False)


@slash("agent", "[name]", "Show the agent, or switch to another.")
def _agent(session: ChatSession, arg: str) -> None:
    if arg:
        session.switch(arg)
    agent = session.runner.agent
    session.console.print(f"agent {agent.name} · model {session.runner.model}", markup=False)


@slash("conversation", "[name]", "Show the conversation, or go to another ('default': the agent's own; "
       "a new name starts one).")
def _conversation(session: ChatSession, arg: str) -> None:
    from memos.core.conversations import open_conversation

    if arg:
        thread, created = open_conversation(session.ws.store, session.runner.agent, arg)
        session.conversation = session.runner.conversation = thread
        if created:
            output.note(f"started conversation '{arg}'")
    current = session.conversation
    name = (current.name or current.id) if current else "default (the agent's own)"
    others = [c.name or c.id for c in session.ws.store.list_conversations(session.runner.agent.id,
                                                                          order_by="last_message_at")]
    session.console.print(f"conversation {name}" + (f" · others: {', '.join(others)}" if others else ""),
                          markup=False)


@slash("model", "[name]", "Show the model, or use another for this session.")
def _model(session: ChatSession, arg: str) -> None:
    if arg:
        session.model_override = arg
        session.runner.model = arg
    session.console.print(f"model {session.runner.model}", markup=False)


@slash("approve", "", "Approve the tool call the agent is waiting on.")
def _approve(session: ChatSession, _: str) -> None:
    cancel = threading.Event()
    session.render(session.runner.approve(cancel), cancel)


@slash("deny", "[reason]", "Deny the waiting tool call (the agent sees the reason).")
def _deny(session: ChatSession, arg: str) -> None:
    cancel = threading.Event()
    session.render(session.runner.deny(arg, cancel), cancel)


@slash("exit", "", "Leave the chat (Ctrl-D works too).")
def _exit(session: ChatSession, _: str) -> None:
    session.running = False


def run_slash(session: ChatSession, line: str) -> None:
    from memos.errors import MemosError

    name, _, arg = line[1:].partition(" ")
    command = COMMANDS.get(name)
    if command is None:
        output.err().print(f"unknown command /{name}; /help lists them", style="red", markup=False)
        return
    try:
        command.handler(session, arg.strip())
    except MemosError as exc:
        output.err().print(f"error: {exc}", style="red", markup=False)


def _setup_readline(history_path: str) -> None:
    try:
        import readline
    except ImportError:
        return
    try:
        readline.read_history_file(history_path)
    except (FileNotFoundError, OSError):
        pass
    readline.set_history_length(1000)
    names = [f"/{n}" for n in COMMANDS]
    readline.set_completer(lambda text, state: ([n for n in names if n.startswith(text)] + [None])[state])
    readline.parse_and_bind("tab: complete")
    import atexit

    atexit.register(lambda: readline.write_history_file(history_path))


def provider_help(exc: Exception) -> str:
    return (f"{exc}\n\nTo chat, memos needs an LLM. Set one of:\n"
            "  OPENAI_API_KEY=sk-...        (openai/gpt-4o-mini and other OpenAI models)\n"
            "  ANTHROPIC_API_KEY=...        (anthropic/claude-...)\n"
            "  GROQ_API_KEY=...             (groq/llama-...)\n"
            "or run a local model with Ollama and point an agent at it:\n"
            "  memos agents update --model ollama/llama3.2   (OLLAMA_HOST if not localhost:11434)\n"
            "or any OpenAI-compatible server:\n"
            "  memos config set providers.openai.base_url http://localhost:8000/v1\n"
            "Slash commands (/memory, /archival, /search) work meanwhile.")


def chat(
    agent: AgentOpt = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model for this session.")] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Stop a reply after this many LLM calls.")] = DEFAULT_MAX_STEPS,
    conversation: Annotated[str | None, typer.Option(
        "--conversation", "-c", help="Chat in one of the agent's conversations, by name or id (a new name starts "
        "one; default: the agent's own).")] = None,
) -> None:
    """Chat with an agent interactively."""
    import os

    from memos.core.llm import resolve
    from memos.errors import ProviderError

    session = ChatSession(agent, model or os.environ.get("MEMOS_MODEL"), max_steps, conversation)
    _setup_readline(str(session.ws.home.root / "chat_history"))
    console = session.console
    thread = f" · conversation {session.conversation.name or session.conversation.id}" if session.conversation else ""
    console.print(f"memos chat · agent {session.runner.agent.name}{thread} · model {session.runner.model} · "
                  "/help, Ctrl-D to leave",
                  style="dim", markup=False)
    try:
        resolve(session.ws.config, session.runner.model)
    except ProviderError as exc:
        output.err().print(provider_help(exc), markup=False)
    try:
        _loop(session)
    finally:
        session.close()


def _loop(session: ChatSession) -> None:
    while session.running:
        session.show_notices()
        session.at_prompt = True
        try:
            line = input(PROMPT)
        except EOFError:
            sys.stdout.write("\n")
            raise typer.Exit(0) from None
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            raise typer.Exit(130) from None
        finally:
            session.at_prompt = False
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            run_slash(session, text)
        else:
            session.say(line)


__all__ = ["chat", "COMMANDS"]
