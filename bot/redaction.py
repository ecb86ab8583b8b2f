"""Keeping secrets out of logs and error output.

The secrets are every ``SecretStr`` setting (the bot token, the webhook secret, the LLM API
key, and any added later), the secret half of the bot token, and the password of any URL
setting. Servers echo them back in ways no exact match catches: python-telegram-bot
lower-cases the rest of an error description after "Bad Request: ", and a server that echoes
a request path echoes the token URL-encoded. So each secret is matched in any case, plain
and URL-encoded, in every log record (message, traceback, stack) and in everything written
to standard output and standard error (the traceback printed when the process dies).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO
from urllib.parse import quote, quote_plus, urlsplit

from pydantic import SecretStr

from .settings import Settings

REDACTED = "<secret>"
# A value this short protects nothing, and matching it would blank out ordinary words.
MIN_SECRET = 4


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value among the settings."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, str) and "://" in value:
            found.append(urlsplit(value).password or "")
    token = settings.telegram_bot_token
    if token is not None:
        # "123456:ABC…": the bot's id is public, the part after it is the secret. Alone, it
        # survives an encoding of the colon.
        found.append(token.get_secret_value().partition(":")[2])
    return [s for s in dict.fromkeys(found) if len(s) >= MIN_SECRET]


class Redactor:
    """Replaces each secret, in any case, plain or URL-encoded, by ``<secret>``."""

    def __init__(self, secrets: list[str]) -> None:
        forms = {
            form
            for secret in secrets
            for form in (secret, quote(secret, safe=""), quote(secret), quote_plus(secret))
        }
        # Longest first, so that a whole token goes before the secret half inside it.
        alternatives = sorted(forms, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)
            if alternatives
            else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Redacts a log record's message, traceback and stack before any handler formats it."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class RedactingStream:
    """A text stream that redacts what is written to it, then passes it on.

    Each write is redacted whole: print(), tracebacks and log handlers write a line (or
    more) at a time, so a secret is never split between two writes.
    """

    def __init__(self, stream: TextIO, redact: Redactor) -> None:
        self._stream = stream
        self._redact = redact

    def write(self, text: str) -> int:
        self._stream.write(self._redact(text))
        return len(text)

    def __getattr__(self, name: str):  # flush, fileno, isatty, encoding…
        return getattr(self._stream, name)


def hide_secrets(settings: Settings) -> Redactor:
    """Redact the settings' secrets from every log handler and from stdout and stderr."""
    redact = Redactor(secrets_of(settings))
    if redact:
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactingFilter(redact))
        sys.stdout = RedactingStream(sys.stdout, redact)  # type: ignore[assignment]
        sys.stderr = RedactingStream(sys.stderr, redact)  # type: ignore[assignment]
    return redact
