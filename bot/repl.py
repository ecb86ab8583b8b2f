"""The local REPL: ask questions from a terminal, with line editing and history."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from index.cleaning import clean_text

from . import prompts
from .answering import Answerer
from .chats import ChatHistory
from .core import build_answerer, is_sample, open_store
from .desk import Desk
from .listing import PAGE_SIZE, page_number
from .render import (
    answer_text,
    article_notes,
    counted,
    display,
    removal_lines,
    report_lines,
    seeding_progress,
    sources_text,
    use_bidi,
    when,
)
from .settings import Settings

HELP = f"""Type a question in any language and press Enter. Commands:
  /help          this help
  /sources       the full passages behind the last answer
  /articles [N]  the indexed articles, newest first, {PAGE_SIZE} a page (N: the N-th)
  /since DATE    search only articles dated from DATE (YYYY-MM-DD; /since off: all)
  /until DATE    search only articles dated up to DATE (YYYY-MM-DD; /until off: all)
  /add PATH|URL  index a file, folder or URL
  /remove ID     remove an article (an id or a unique prefix of one)
  /reset         forget this conversation
  /quit          leave (or Ctrl-D)"""

# The REPL's one conversation in the desk's chat history. The history is in memory: each
# run of the REPL starts a new conversation, as a terminal session does.
CHAT = 0


class Session:
    """One REPL conversation at the question desk, its history in memory."""

    def __init__(self, answerer: Answerer, settings: Settings) -> None:
        self.desk = Desk(settings, answerer.store, answerer, ChatHistory())

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
        command, argument = command.lower(), argument.strip()
        if command in ("/quit", "/exit", "/q"):
            return None
        if command == "/help":
            return HELP
        if command == "/sources":
            return sources_text(self.desk.answer(CHAT))
        if command == "/articles":
            return self.articles(argument)
        if command in ("/since", "/until"):
            return self.limit_dates(command[1:], argument)
        if command == "/add":
            return self.add(argument)
        if command == "/remove":
            return self.remove(argument)
        if command == "/reset":
            self.desk.forget(CHAT)
            return "Conversation cleared."
        return f"Unknown command {command}. /help lists the commands."

    def ask(self, question: str, write: Callable[[str], None] | None = None) -> str:
        """Answer ``question`` as a follow-up of this conversation."""
        streamed: list[str] = []

        def on_text(piece: str) -> None:
            streamed.append(piece)
            write(piece)

        answer, _ = self.desk.ask(CHAT, question, on_text if write is not None else None)
        full = answer_text(answer)
        if not streamed:
            return full
        if "".join(streamed).strip() == answer.text:
            return full[len(answer.text) :]  # the sources
        # Citations were removed, or the model's text was replaced by quotes.
        return "\n\n" + full

    def articles(self, argument: str) -> str:
        page = page_number(argument)
        if page is None:
            return prompts.text("articles_usage", "en", size=str(PAGE_SIZE))
        shown = self.desk.listing(page)
        if not shown.total:
            return "No articles are indexed yet. /add PATH adds some."
        if shown.past_end:
            return prompts.listing_head(shown, "en")
        lines = [prompts.listing_head(shown, "en")] if shown.pages > 1 else []
        for a in shown.articles:
            day = when(a.date, a.added_at, "en")
            notes = article_notes(a, is_sample(a.source))
            lines.append(
                f"{a.id[:8]}  {day:<16} [{a.lang}] {a.title}  ({a.link or a.source}){notes}"
            )
        return "\n".join([*lines, prompts.listing_foot(shown, "en")]).rstrip("\n")

    def limit_dates(self, end: str, day: str) -> str:
        """Set or open one end of the dates this conversation searches; say what it is now."""
        if not day:
            return prompts.window_reply(self.desk.window(CHAT), "en", changed=False)
        try:
            window = self.desk.limit_dates(CHAT, end, day)
        except ValueError as exc:
            return prompts.text("window_usage", "en", command=end, error=str(exc))
        return prompts.window_reply(window, "en", changed=True)

    def add(self, target: str) -> str:
        if not target:
            return "Usage: /add PATH or /add URL"
        report = self.desk.add(target)
        lines = [f"added {a.id[:8]} {a.title}" for a in report.added]
        lines += [f"already indexed: {a.title}" for a in report.skipped]
        lines += [f"error: {e}" for e in report.errors]
        lines += report_lines(report)
        return "\n".join(lines) or "nothing to add"

    def remove(self, article_id: str) -> str:
        if not article_id:
            return "Usage: /remove ID (the id shown by /articles)"
        removal = self.desk.remove(article_id)
        if removal is None:
            return f"There is no article with id {article_id}."
        article = removal.removed
        left = counted(self.desk.count())
        lines = [f"removed {article.id[:8]} {article.title}; {left} left"]
        return "\n".join(lines + removal_lines(removal))


def run_repl(settings: Settings) -> int:
    """Read questions until /quit or end of input."""
    interactive = sys.stdin.isatty()
    history_file = Path(settings.data_dir) / "repl_history"
    if interactive:
        _start_readline(history_file)
    store = open_store(settings, seed=True, progress=seeding_progress)
    session = Session(build_answerer(settings, store), settings)
    desk = session.desk
    bidi = use_bidi(settings.bidi)
    if interactive:
        print(f"articlebot: {desk.count()} articles indexed. /help for commands.")
    try:
        while True:
            try:
                line = input("? " if interactive else "")
            except EOFError:
                break
            # Tokens print as they come; right-to-left text is reordered only whole, so not then.
            stream = None if bidi else TerminalStream()
            reply = session.handle(line, write=stream.write if stream else None)
            if stream:
                stream.end()
            if reply is None:
                break
            if reply:
                print(display(reply, bidi), flush=True)
                print(flush=True)
    finally:
        desk.close()
    if interactive:
        _save_readline(history_file)
    return 0


# The end of a text that may be the start of an escape sequence (see index/cleaning.py) or of
# a \r\n line break, not yet finished: an ESC and intermediate bytes; a CSI without its final
# byte; an OSC, DCS, APC, PM or SOS string without its BEL or ST (perhaps half an ST).
_UNFINISHED = re.compile(
    r"(?:\x1b[\x20-\x2f]*"
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]{0,4096}\x1b?"
    r"|\r)\Z"
)


class TerminalStream:
    """A language model's text printed as it is written, cleaned as everything the REPL
    prints is (bot/render.py's ``display``): nothing from a model reaches the terminal raw.

    A sequence split between two pieces is held back until it is finished, so that it is
    taken out whole and none of its bytes show as text; ``end`` prints what is left.
    """

    def __init__(self) -> None:
        self._held = ""

    def write(self, piece: str) -> None:
        """Print a piece of the text, cleaned."""
        text = self._held + piece
        unfinished = _UNFINISHED.search(text)
        cut = unfinished.start() if unfinished else len(text)
        text, self._held = text[:cut], text[cut:]
        self._print(text)

    def end(self) -> None:
        """Print what was held back (a sequence that never finished loses its opener)."""
        text, self._held = self._held, ""
        self._print(text)

    @staticmethod
    def _print(text: str) -> None:
        text = clean_text(text)
        if text:
            print(text, end="", flush=True)


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
