"""A stand-in for an OpenAI-compatible chat server on 127.0.0.1 that streams scripted replies.

Shared by tests/test_llm.py (the answer chain) and tests/test_telegram_llm.py (the bot).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.prompts import LLM_QUESTION_SYSTEM

# How a request to translate a question for the search begins (its language follows).
QUESTION_SYSTEM = LLM_QUESTION_SYSTEM.split("{")[0]


class ScriptedServer(ThreadingHTTPServer):
    """An OpenAI-compatible chat endpoint that streams scripted replies, word by word.

    Requests get ``replies`` in order, streamed with ``piece_delay`` seconds before each
    word; a reply may be a function of the request's body. Once they are used up,
    ``behaviour`` says what follows: "reply" (an HTTP 500 error: no reply is left), "hang"
    (read the request, then say nothing) or "trickle" (send a piece every half second,
    forever). Requests are kept.

    A request to translate a question for the search (bot/translation.py) takes no scripted
    reply: ``questions`` answers it (a function of the request's body), or an empty reply
    (no translation: the question is searched as asked) if none is given. Such requests are
    kept apart, in ``question_requests``.
    """

    daemon_threads = True

    def __init__(
        self,
        behaviour: str = "reply",
        replies: list[str | Callable[[dict], str]] | None = None,
        piece_delay: float = 0.0,
        questions: Callable[[dict], str] | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.behaviour = behaviour
        self.replies = list(replies or [])
        self.piece_delay = piece_delay
        self.questions = questions
        self.requests: list[dict] = []
        self.question_requests: list[dict] = []
        self.stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> ScriptedServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.shutdown()
        self.server_close()


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["messages"][0]["content"].startswith(QUESTION_SYSTEM):
            self.server.question_requests.append(body)
            self._stream(self.server.questions(body) if self.server.questions else "")
            return
        self.server.requests.append(body)
        scripted = self.server.replies.pop(0) if self.server.replies else None
        if scripted is None and self.server.behaviour == "hang":
            self.server.stopped.wait(30)
            return
        if scripted is None and self.server.behaviour == "reply":
            self.send_error(500, "no scripted reply is left")
            return
        if scripted is None:  # trickle
            self._begin()
            while not self.server.stopped.wait(0.5):
                self._send_piece("word ")
            return
        self._stream(scripted(body) if callable(scripted) else scripted)

    def _begin(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

    def _stream(self, reply: str) -> None:
        self._begin()
        for piece in re.findall(r"\S+\s*", reply):
            time.sleep(self.server.piece_delay)
            self._send_piece(piece)
        self._send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self.wfile.write(b"data: [DONE]\n\n")

    def _send_piece(self, text: str) -> None:
        delta = {"role": "assistant", "content": text}
        self._send({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})

    def _send(self, chunk: dict) -> None:
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m", **chunk}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()
