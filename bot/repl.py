"""The local REPL: ask questions from a terminal, with line editing and history."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from index.ingest import ingest

from .answering import Answerer
from .core import build_answerer, indexer, limits, open_store
from .render import answer_text, display, sources_text, use_bidi
from .settings import Settings
from .types import Answer

HELP = """Type a question in any language and press Enter. Commands:
  /help          this help
  /sources       the full passages behind the last answer
  /articles      the indexed articles
  /add PATH|URL  index a file, folder or URL
  /reset         forget this conversation
  /quit          leave (or Ctrl-D)"""


@dataclass
class Session:
    """One REPL conversation: its answers so far."""

    answerer: Answerer
    settings: Settings
    history: list[Answer] = field(default_factory=list)

    def handle(self, line: str, write: Callable[[str], None] | None = None) -> str | None:
        """The reply to one input line; None means quit.

        With ``write``, an answer's text is passed to it piece by piece as a language model
        writes it, and the reply holds what is left to show: the sources, or the whole
        checked answer if it differs from what was streamed.
        """
        line = line.strip()
        if not line:
            return ""
        if not line.startswith("/"):
            return self.ask(line, write)
        command, _, argument = line.partition(" ")
        command = command.lower()
        if command in ("/quit", "/exit", "/q"):
            return None
        if command == "/help":
            return HELP
        if command == "/sources":
            return sources_text(self.history[-1] if self.history else None)
        if command == "/articles":
            return self.articles()
        if command == "/add":
            return self.add(argument.strip())
        if command == "/reset":
            self.history.clear()
            return "Conversation cleared."
        return f"Unknown command {command}. /help lists the commands."

    def ask(self, question: str, write: Callable[[str], None] | None = None) -> str:
        """Answer ``question`` as a follow-up of this conversation."""
        turns = [(a.question, a.text) for a in self.history]
        streamed = ""
        answer = None
        for piece in self.answerer.stream(question, turns):
            if isinstance(piece, Answer):
                answer = piece
            elif write is not None:
                write(piece)
                streamed += piece
        assert answer is not None
        self.history.append(answer)
        full = answer_text(answer)
        if not streamed:
            return full
        if streamed.strip() == answer.text:
            return full[len(answer.text) :]  # the sources
        # Citations were removed, or the model's text was replaced by quotes.
        return "\n\n" + full

    def articles(self) -> str:
        articles = self.answerer.store.articles()
        if not articles:
            return "No articles are indexed yet. /add PATH adds some."
        return "\n".join(f"{a.id[:8]}  [{a.lang}] {a.title}" for a in articles)

    def add(self, target: str) -> str:
        if not target:
            return "Usage: /add PATH or /add URL"
        report = ingest(
            indexer(self.settings, self.answerer.store), [target], limits(self.settings)
        )
        lines = [f"added {a.id[:8]} {a.title}" for a in report.added]
        lines += [f"already indexed: {a.title}" for a in report.skipped]
        lines += [f"error: {e}" for e in report.errors]
        return "\n".join(lines) or "nothing to add"


def run_repl(settings: Settings) -> int:
    """Read questions until /quit or end of input."""
    interactive = sys.stdin.isatty()
    history_file = Path(settings.data_dir) / "repl_history"
    if interactive:
        _start_readline(history_file)
    session = Session(build_answerer(settings, open_store(settings)), settings)
    bidi = use_bidi(settings.bidi)
    if interactive:
        print(f"articlebot: {len(session.answerer.store)} articles indexed. /help for commands.")
    while True:
        try:
            line = input("? " if interactive else "")
        except EOFError:
            break
        # Tokens print as they come; right-to-left text is reordered only whole, so not then.
        reply = session.handle(line, write=None if bidi else _write)
        if reply is None:
            break
        if reply:
            print(display(reply, bidi), flush=True)
            print(flush=True)
    if interactive:
        _save_readline(history_file)
    return 0


def _write(piece: str) -> None:
    print(piece, end="", flush=True)


def _start_readline(history_file: Path) -> None:
    try:
        import readline
    except ImportError:  # not on every platform; input() still works
        return
    with contextlib.suppress(OSError):
        readline.read_history_file(history_file)
    readline.set_history_length(1000)


def _save_readline(history_file: Path) -> None:
    try:
        import readline

        readline.write_history_file(history_file)
    except (ImportError, OSError):
        pass
