"""Secrets never reach the logs or the error output, in whatever form a server echoes them.

The end-to-end test runs the real `articlebot telegram` process against servers that echo
the token, the webhook secret and the LLM API key back in error descriptions: lower-cased,
upper-cased and URL-encoded, as python-telegram-bot and misbehaving servers do.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

from bot import prompts
from bot.redaction import REDACTED, Redactor, secrets_of
from bot.settings import Settings

from .fake_telegram import FakeTelegram
from .telegram_harness import TOKEN, BotProcess, free_port, listening

HOOK_SECRET = "Hook-Secret-4711"
API_KEY = "sk-Echoed/Key+0815"  # "/" and "+" change under URL encoding
SECRETS = [TOKEN, TOKEN.split(":")[1], HOOK_SECRET, API_KEY]
QUESTION = "How many doses of the Sputnik V vaccine did Russia sell to Pakistan?"


def forms(secret: str) -> list[str]:
    """Every form of a secret that must not be found (searched for case-insensitively)."""
    return [secret, quote(secret, safe=""), quote(secret), quote_plus(secret)]


def assert_no_secret(text: str) -> None:
    folded = text.lower()
    for secret in SECRETS:
        for form in forms(secret):
            assert form.lower() not in folded, f"{form!r} found"


# ---- the redactor -------------------------------------------------------------------


def test_every_secret_setting_is_found_with_the_tokens_secret_half_and_url_passwords():
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_webhook_secret=HOOK_SECRET,
        llm_api_key=API_KEY,
        llm_base_url="http://user:pa55word@127.0.0.1:8000/v1",
    )
    assert set(secrets_of(settings)) == {*SECRETS, "pa55word"}
    assert secrets_of(Settings(llm_api_key="x")) == []  # too short to hide anything


def test_secrets_are_redacted_in_any_case_and_url_encoded():
    redact = Redactor(SECRETS)
    for secret in SECRETS:
        for form in forms(secret):
            for text in (form, form.lower(), form.upper()):
                assert redact(f"<<{text}>>") == f"<<{REDACTED}>>", text
    # The token, with its colon encoded: the secret half goes, the public bot id stays.
    assert redact(f"/bot{quote(TOKEN, safe='')}/getMe") == f"/bot{REDACTED}/getMe"
    # Encoded twice, the token is not one of its forms, but its secret half still is.
    twice = quote(quote(TOKEN, safe=""), safe="")
    assert redact(twice) == f"123456%253A{REDACTED}"
    assert redact("nothing secret here") == "nothing secret here"


# ---- the real process -----------------------------------------------------------------


class EchoingLLM(ThreadingHTTPServer):
    """An OpenAI-compatible server that refuses every request, echoing its Authorization."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> EchoingLLM:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


class _EchoHandler(BaseHTTPRequestHandler):
    server: EchoingLLM

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers.get("Authorization", "")
        message = f"Incorrect API key: {key.lower()} {key.upper()} {quote(key, safe='')}"
        body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
        self.server.refused += 1
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


def echo(marker: str, form: Callable[[str], str]) -> Callable[[str, dict], str]:
    """An error description echoing the request's path and parameters in some form."""
    return lambda path, params: f"Bad Request: {marker} {form(path)} {form(json.dumps(params))}"


def _webhook_env(port: int, **more: str) -> dict[str, str]:
    return {
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/hook",
        "TELEGRAM_WEBHOOK_PORT": str(port),
        "TELEGRAM_WEBHOOK_SECRET": HOOK_SECRET,
        "LLM_API_KEY": API_KEY,
        **more,
    }


def _copy(sample_dir: Path, root: Path) -> Path:
    shutil.copytree(sample_dir, root / "data")
    return root / "data"


def test_echoed_secrets_are_redacted_from_the_log_and_from_the_error_at_exit(sample_dir, tmp_path):
    # Two bots that die at start, concurrently: Telegram's refusal of the token (which
    # python-telegram-bot puts in its exception) and a setWebhook error echoing the path
    # and the parameters, the secret among them.
    dying = []
    for name, method, code, description in [
        ("getme", "getMe", 401, lambda path, params: f"Unauthorized: {quote(path, safe='')}"),
        ("hook", "setWebhook", 400, echo("echo-hook", str.lower)),
    ]:
        fake = FakeTelegram(TOKEN).start()
        fake.fail_next(method, code, description)
        root = tmp_path / name
        root.mkdir()
        env = _webhook_env(free_port(), TELEGRAM_MAX_RETRIES="0")
        dying.append(
            (fake, BotProcess.start(fake, _copy(sample_dir, root), root / "bot.log", **env))
        )

    # A bot at work: the LLM server and Telegram echo the secrets back in its errors.
    llm = EchoingLLM().start()
    fake = FakeTelegram(TOKEN).start()
    port = free_port()
    env = _webhook_env(
        port, LLM_BACKEND="openai", LLM_BASE_URL=llm.url, LLM_MODEL="m", LLM_MAX_RETRIES="0"
    )
    root = tmp_path / "working"
    root.mkdir()
    bot = BotProcess.start(fake, _copy(sample_dir, root), root / "bot.log", "-v", **env)
    try:
        fake.wait_for(lambda: fake.webhook, 90, "setWebhook")
        fake.wait_for(lambda: listening(port), 30, "the webhook server")
        fake.fail_next("sendMessage", 400, echo("echo-upper", str.upper))
        message = fake._message(301, 301, "private", "en", text=QUESTION)
        assert fake.deliver_webhook({"message": message}, HOOK_SECRET).status_code == 200
        (error,) = fake.wait_for_messages(301, 1, timeout=60)
        assert error["text"] == prompts.text("tg_error", "en")
        fake.fail_next("sendMessage", 502, lambda path, params: f"{quote_plus(path)} is down")
        message = fake._message(302, 302, "private", "en", text=QUESTION)
        assert fake.deliver_webhook({"message": message}, HOOK_SECRET).status_code == 200
        (answer,) = fake.wait_for_messages(302, 1, timeout=60)
        # The quotes, after the refusals: each English question about the Arabic sample asked
        # the model for its translation (for the search), then for the answer.
        assert "50000" in answer["text"] and llm.refused == 4
    finally:
        assert bot.stop() == 0, bot.log_text()[-3000:]
        fake.stop()
        llm.shutdown()
    working = bot.log_text()
    assert_no_secret(working)
    for marker in ["echo-upper", "is down", "incorrect api key: bearer"]:
        assert marker in working.lower(), marker  # the echo reached the log, redacted
    # Sent upper-cased, lower-cased by python-telegram-bot ("Bad Request: " is cut, the rest
    # capitalized).
    assert f"Echo-upper /bot{REDACTED}/sendmessage" in working
    assert f"%2Fbot{REDACTED}%2FsendMessage is down" in working
    assert f"bearer {REDACTED} BEARER {REDACTED} Bearer%20{REDACTED}" in working

    for fake, process in dying:
        assert process.process.wait(60) != 0
        fake.stop()
    getme, hook = (process.log_text() for _, process in dying)
    assert_no_secret(getme + hook)
    # Each died with one line naming the error (start_failure), the secrets in it redacted.
    assert f"refused the bot token (Unauthorized: %2Fbot{REDACTED}%2FgetMe)" in getme
    assert "refused to start the bot (Echo-hook" in hook
    assert "Traceback" not in getme + hook
    assert f"/bot{REDACTED}/setwebhook" in hook and f'"secret_token": "{REDACTED}"' in hook
