"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the bot.

It serves ``/bot<token>/<method>`` and ``/file/bot<token>/<path>`` over plain HTTP and
rejects what Telegram rejects: message text outside 1-4096 characters after entity
parsing, malformed HTML, and more than about one message a second in one chat (429 with
``retry_after``). Tests play the users: they queue updates and read what the bot sent. They
can also make calls fail (``fail_next``, echoing the request if asked) or wait unanswered
(``hold``), to stand for a Telegram that misbehaves or a bot that dies half-way.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

import httpx

BOT_ID = 7000001
BOT_USERNAME = "articles_test_bot"
TEXT_LIMIT = 4096
HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "span", "tg-spoiler", "tg-emoji", "blockquote",
}  # fmt: skip
_HTML_TOKEN = re.compile(r"<(/?)([^\s>/]*)([^>]*)>|&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);|([<>&])")
_TOKEN_PATH = re.compile(r"/bot\d+:[\w-]+/")
# Methods that put a message in a chat, and so count against the per-chat limit.
_LIMITED = {"sendMessage", "editMessageText"}


# An error's description: a text, or made from the request's path and parameters (to echo
# them, as some servers do).
Description = str | Callable[[str, dict], str]


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a user sees once Telegram has parsed its entities; ApiError if it cannot."""
    if parse_mode is None:
        return text
    if parse_mode.upper() != "HTML":
        raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
    out, stack, pos = [], [], 0
    for m in _HTML_TOKEN.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        closing, name, _attrs, entity, bare = m.groups()
        if bare:
            raise ApiError(
                400, f"Bad Request: can't parse entities: unescaped {bare!r} at {m.start()}"
            )
        if entity:
            out.append(html.unescape(m.group(0)))
            continue
        name = name.lower()
        if name not in HTML_TAGS:
            raise ApiError(400, f"Bad Request: can't parse entities: unsupported tag {name!r}")
        if closing:
            if not stack or stack[-1] != name:
                raise ApiError(400, f"Bad Request: can't parse entities: unmatched </{name}>")
            stack.pop()
        else:
            stack.append(name)
    if stack:
        raise ApiError(400, f"Bad Request: can't parse entities: <{stack[-1]}> is not closed")
    out.append(text[pos:])
    return "".join(out)


def _check_text(text: Any, parse_mode: str | None) -> str:
    if not isinstance(text, str):
        raise ApiError(400, "Bad Request: message text is empty")
    shown = visible_text(text, parse_mode).strip()
    length = len(shown.encode("utf-16-le")) // 2
    if length == 0:
        raise ApiError(400, "Bad Request: message text is empty")
    if length > TEXT_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")
    return shown


class FakeTelegram:
    """The fake server and everything it saw; thread-safe, start() then stop()."""

    def __init__(self, token: str, chat_interval: float = 1.0) -> None:
        self.token = token
        self.chat_interval = chat_interval
        self.lock = threading.Condition()
        self.updates: list[dict] = []
        self.next_update_id = 1
        self.next_message_id = 1000
        self.sent: list[dict] = []  # every accepted sendMessage, in order
        self.edits: list[dict] = []  # every accepted editMessageText
        self.calls: list[tuple[str, dict]] = []  # every request: (method, params)
        self.rejected: list[tuple[str, int, str]] = []  # (method, code, description)
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.commands: dict[str | None, list[dict]] = {}
        self.webhook: dict | None = None
        # Behind a load balancer (``balance``): the replicas' webhooks, the secret, whose
        # turn is next, and which replica took each update.
        self.replicas: list[str] = []
        self.replica_secret: str | None = None
        self.next_replica = 0
        self.routed: dict[int, str] = {}
        self.failures: list[tuple[str, int, Description, int | None]] = []
        self._last_message_at: dict[int, float] = {}
        self.held: set[str] = set()  # methods whose calls wait for release()
        self.holding: dict[str, int] = {}  # calls waiting, by method
        self._hold_round = 0  # release() starts a new one
        self._dropped_round = -1
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> FakeTelegram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release(drop=True)
        self.server.shutdown()
        self.server.server_close()

    # ---- playing the users ----------------------------------------------------------

    def balance(self, webhooks: list[str], secret: str) -> None:
        """Stand for Telegram and a load balancer in front of bot replicas: from now on each
        update is POSTed to the replicas' webhooks in turn, as Telegram delivers it (until
        a 200), instead of being kept for getUpdates. A replica that refuses the connection
        or answers with an error is skipped for that update, as a balancer skips a dead
        backend."""
        with self.lock:
            self.replicas, self.replica_secret = list(webhooks), secret

    def _push(self, update: dict) -> int:
        with self.lock:
            update["update_id"] = self.next_update_id
            self.next_update_id += 1
            if not self.replicas:
                self.updates.append(update)
            self.lock.notify_all()
        if self.replicas:
            self._deliver(update)
        return update["update_id"]

    def _deliver(self, update: dict) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.replica_secret or ""}
        for _ in range(len(self.replicas)):
            with self.lock:
                url = self.replicas[self.next_replica % len(self.replicas)]
                self.next_replica += 1
            try:
                response = httpx.post(url, json=_as_sent(update), headers=headers, timeout=30)
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                with self.lock:
                    self.routed[update["update_id"]] = url
                return
        raise AssertionError(f"no replica took update {update['update_id']}")

    def _message(self, chat_id: int, user_id: int, chat_type: str, lang: str, **fields) -> dict:
        with self.lock:
            self.next_message_id += 1
            message_id = self.next_message_id
        chat = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = f"User{user_id}"
        else:
            chat["title"] = f"Group {chat_id}"
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": f"User{user_id}",
                "language_code": lang,
            },
            **fields,
        }

    def user_says(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        lang: str = "en",
        reply_to: dict | None = None,
    ) -> dict:
        """A user sends a text message; returns the message (with its update_id)."""
        fields: dict[str, Any] = {"text": text}
        entities = []
        if text.startswith("/"):
            entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
        for m in re.finditer(r"@\w+", text):
            entities.append({"type": "mention", "offset": m.start(), "length": len(m.group(0))})
        if entities:
            fields["entities"] = entities
        if reply_to:
            fields["reply_to_message"] = reply_to
        message = self._message(chat_id, user_id or chat_id, chat_type, lang, **fields)
        message["update_id"] = self._push({"message": message})
        return message

    def user_uploads(
        self,
        chat_id: int,
        file_name: str,
        content: bytes,
        *,
        user_id: int | None = None,
        file_size: int | None = None,
    ) -> dict:
        """A user sends a document (``file_size``: the size announced, if not its own)."""
        with self.lock:
            file_id = f"file{len(self.files) + 1}"
            self.files[file_id] = (f"documents/{file_id}_{file_name}", content)
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "file_size": len(content) if file_size is None else file_size,
        }
        message = self._message(chat_id, user_id or chat_id, "private", "en", document=document)
        message["update_id"] = self._push({"message": message})
        return message

    def channel_posts(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        title: str = "News channel",
        username: str | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        edit_of: dict | None = None,
    ) -> dict:
        """A channel posts a message (text, or a photo with a caption), or edits the post
        ``edit_of`` (the same message id, an ``edited_channel_post``); returns the post."""
        chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title}
        if username:
            chat["username"] = username
        with self.lock:
            self.next_message_id += 1
            message_id = edit_of["message_id"] if edit_of else self.next_message_id
        post: dict[str, Any] = {
            "message_id": message_id,
            "date": edit_of["date"] if edit_of else int(time.time()),
            "chat": chat,
            "sender_chat": chat,
        }
        if text is not None:
            post["text"] = text
        if caption is not None or media_group_id:
            post["photo"] = [
                {"file_id": f"photo{message_id}", "file_unique_id": "p", "width": 90, "height": 90}
            ]
        if caption is not None:
            post["caption"] = caption
        if media_group_id:
            post["media_group_id"] = media_group_id
        if edit_of:
            post["edit_date"] = int(time.time())
        post["update_id"] = self._push({"edited_channel_post" if edit_of else "channel_post": post})
        return post

    def user_forwards(
        self, chat_id: int, text: str, origin: dict, *, user_id: int | None = None
    ) -> dict:
        """A user forwards a message to the bot; ``origin`` is its MessageOrigin (a dict as
        the Bot API sends it: type channel, chat, user or hidden_user, with its date)."""
        message = self._message(
            chat_id, user_id or chat_id, "private", "en", text=text, forward_origin=origin
        )
        message["update_id"] = self._push({"message": message})
        return message

    def user_presses(self, message: dict, data: str, *, user_id: int | None = None) -> None:
        """A user presses an inline button under one of the bot's messages."""
        chat_id = message["chat_id"]
        self._push(
            {
                "callback_query": {
                    "id": f"cb{time.monotonic_ns()}",
                    "from": {"id": user_id or chat_id, "is_bot": False, "first_name": "U"},
                    "chat_instance": str(chat_id),
                    "data": data,
                    "message": message["raw"],
                }
            }
        )

    def fail_next(
        self, method: str, code: int, description: Description, retry_after: int | None = None
    ) -> None:
        """Make the next call of ``method`` fail with this error.

        A callable ``description`` gets the request's path (with the token in it) and its
        parameters, so the error can echo them.
        """
        with self.lock:
            self.failures.append((method, code, description, retry_after))

    def hold(self, *methods: str) -> None:
        """Make calls of these methods wait, unanswered, until release()."""
        with self.lock:
            self.held.update(methods)

    def release(self, drop: bool = False) -> None:
        """Let held calls go on; with ``drop``, they are refused without effect, as if they
        never reached Telegram (their client has died)."""
        with self.lock:
            if drop:
                self._dropped_round = self._hold_round
            self._hold_round += 1
            self.held.clear()
            self.lock.notify_all()

    # ---- what the bot did -----------------------------------------------------------

    def messages(self, chat_id: int) -> list[dict]:
        with self.lock:
            return [m for m in self.sent if m["chat_id"] == chat_id]

    def wait_for(self, check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
        """Wait until ``check()`` is truthy and return it; AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                result = check()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what or check}")
                self.lock.wait(min(left, 0.5))

    def wait_for_messages(self, chat_id: int, count: int = 1, timeout: float = 30.0) -> list[dict]:
        """The first ``count`` messages the bot sends to a chat."""
        return self.wait_for(
            lambda: (m := self.messages(chat_id)) and len(m) >= count and m,
            timeout,
            f"{count} message(s) in chat {chat_id}",
        )

    def text_update(self, chat_id: int, text: str) -> dict:
        """A user's private text message as an update with the next id, not queued: for a
        caller that posts it to a webhook of its choice (one of several replicas)."""
        message = self._message(chat_id, chat_id, "private", "en", text=text)
        with self.lock:
            update_id = self.next_update_id
            self.next_update_id += 1
        return {"update_id": update_id, "message": message}

    def deliver_webhook(self, update: dict, secret: str | None) -> httpx.Response:
        """POST an update to the webhook the bot set, as Telegram would."""
        assert self.webhook, "the bot has not set a webhook"
        with self.lock:
            update["update_id"] = self.next_update_id
            self.next_update_id += 1
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return httpx.post(self.webhook["url"], json=update, headers=headers, timeout=10)

    # ---- the Bot API ----------------------------------------------------------------

    def _bot_user(self) -> dict:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Articles", "username": BOT_USERNAME}

    def call(self, method: str, params: dict, path: str = "") -> Any:
        """Run one Bot API method; returns its result or raises ApiError."""
        with self.lock:
            self.calls.append((method, params))
            for n, (name, code, description, retry_after) in enumerate(self.failures):
                if name == method:
                    del self.failures[n]
                    if callable(description):
                        description = description(path, params)
                    raise ApiError(code, description, retry_after)
            if method in self.held:
                round_ = self._hold_round
                self.holding[method] = self.holding.get(method, 0) + 1
                self.lock.notify_all()
                while method in self.held and round_ == self._hold_round:
                    self.lock.wait()
                self.holding[method] -= 1
                if round_ == self._dropped_round:
                    raise ApiError(503, "dropped: the bot died while this call was held")
        if method == "getUpdates":
            return self._get_updates(params)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        with self.lock:
            result = handler(params)
            self.lock.notify_all()
            return result

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self.lock:
            if self.webhook:
                raise ApiError(409, "Conflict: can't use getUpdates while webhook is active")
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            return [_as_sent(u) for u in self.updates[: int(params.get("limit") or 100)]]

    def _pace(self, method: str, chat_id: int) -> None:
        now = time.monotonic()
        last = self._last_message_at.get(chat_id)
        if last is not None and now - last < self.chat_interval:
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        self._last_message_at[chat_id] = now

    def _api_getMe(self, params: dict) -> dict:
        return self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _api_sendMessage(self, params: dict) -> dict:
        chat_id = int(params["chat_id"])
        shown = _check_text(params.get("text"), params.get("parse_mode"))
        self._pace("sendMessage", chat_id)
        self.next_message_id += 1
        raw = {
            "message_id": self.next_message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": self._bot_user(),
            "text": shown,
        }
        markup = params.get("reply_markup")
        if markup:
            raw["reply_markup"] = markup
        self.sent.append(
            {
                "chat_id": chat_id,
                "message_id": raw["message_id"],
                "text": shown,
                "html": params["text"],
                "reply_markup": markup,
                "reply_to": (params.get("reply_parameters") or {}).get("message_id")
                or params.get("reply_to_message_id"),
                "at": time.monotonic(),
                "raw": raw,
            }
        )
        return raw

    def _api_editMessageText(self, params: dict) -> dict:
        chat_id = int(params["chat_id"])
        shown = _check_text(params.get("text"), params.get("parse_mode"))
        message = next(
            (
                m
                for m in self.sent
                if m["chat_id"] == chat_id and m["message_id"] == int(params["message_id"])
            ),
            None,
        )
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["text"] == shown and message["reply_markup"] == (
            params.get("reply_markup") or None
        ):
            raise ApiError(400, "Bad Request: message is not modified")
        self._pace("editMessageText", chat_id)
        # An edit without reply_markup removes the message's inline keyboard, as in Telegram.
        markup = params.get("reply_markup") or None
        message["text"], message["html"], message["reply_markup"] = shown, params["text"], markup
        message["raw"] = {k: v for k, v in message["raw"].items() if k != "reply_markup"}
        message["raw"] |= {"text": shown, "edit_date": int(time.time())}
        if markup:
            message["raw"]["reply_markup"] = markup
        self.edits.append(
            {
                "chat_id": chat_id,
                "message_id": message["message_id"],
                "text": shown,
                "html": params["text"],
                "reply_markup": markup,
                "at": time.monotonic(),
            }
        )
        return message["raw"]

    def _api_sendChatAction(self, params: dict) -> bool:
        return True

    def _api_answerCallbackQuery(self, params: dict) -> bool:
        return True

    def _api_setMyCommands(self, params: dict) -> bool:
        self.commands[params.get("language_code") or None] = params["commands"]
        return True

    def _api_getFile(self, params: dict) -> dict:
        file_id = params["file_id"]
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(content),
            "file_path": path,
        }

    def _api_setWebhook(self, params: dict) -> bool:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return True

    def _api_deleteWebhook(self, params: dict) -> bool:
        self.webhook = None
        return True

    def _api_getWebhookInfo(self, params: dict) -> dict:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                path = unquote(urlparse(self.path).path)
                prefix = f"/file/bot{fake.token}/"
                found = None
                if path.startswith(prefix):
                    wanted = path[len(prefix) :]
                    found = next((c for p, c in fake.files.values() if p == wanted), None)
                if found is None:
                    self._reply(404, b"Not Found", "text/plain")
                else:
                    self._reply(200, found, "application/octet-stream")

            def do_POST(self) -> None:
                path = urlparse(self.path).path
                prefix = f"/bot{fake.token}/"
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The bot gave up on the request while sending it (a "typing…" cancelled
                    # when the answer was ready): Telegram never gets such a call.
                    return
                if not path.startswith(prefix):
                    # As Telegram: a well-formed token it does not know is 401, the rest 404.
                    code = 401 if _TOKEN_PATH.match(path) else 404
                    description = "Unauthorized" if code == 401 else "Not Found"
                    self._json(code, {"ok": False, "error_code": code, "description": description})
                    return
                try:
                    params = _parse(body, self.headers.get("Content-Type", ""))
                    result = fake.call(path[len(prefix) :], params, self.path)
                except ApiError as exc:
                    with fake.lock:
                        fake.rejected.append((path[len(prefix) :], exc.code, exc.description))
                    error: dict[str, Any] = {
                        "ok": False,
                        "error_code": exc.code,
                        "description": exc.description,
                    }
                    if exc.retry_after is not None:
                        error["parameters"] = {"retry_after": exc.retry_after}
                    self._json(exc.code, error)
                    return
                self._json(200, {"ok": True, "result": result})

            def _json(self, code: int, data: dict) -> None:
                self._reply(code, json.dumps(data).encode(), "application/json")

            def _reply(self, code: int, body: bytes, content_type: str) -> None:
                # The bot may have been killed while it waited (a held or long-polling call).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(code)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A bot killed on purpose resets its connections: no traceback for that.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _strip(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "update_id"}


def _as_sent(update: dict) -> dict:
    """An update as Telegram sends it: without the update ids the tests note in its parts."""
    return {k: _strip(v) if isinstance(v, dict) else v for k, v in update.items()}


def _parse(body: bytes, content_type: str) -> dict:
    """Bot API parameters: JSON, or form fields whose non-string values are JSON."""
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(body)
    params: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        if value[:1] in "{[" or key in ("chat_id", "message_id", "offset", "limit", "timeout"):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        params[key] = value
    return params
