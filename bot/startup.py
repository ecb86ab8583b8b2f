"""Start-up failures in one line a person can act on: what is wrong, and what to set.

A command that cannot start prints one such line on standard error and exits non-zero,
never a traceback (``-v`` logs the traceback too). The index that does not match the
embedding model is said by the store (``StoreMismatchError``), the settings by pydantic,
the Telegram connection by the bot (bot/telegram.py); here: the data directory.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

FIX_DATA_DIR = (
    "set ARTICLEBOT_DATA_DIR (or --data-dir) to a directory articlebot can create, read and write"
)


# What to do with a database file that is not one (overwritten, cut short by a full disk...).
_ANEW = "move it aside; articlebot makes it anew (what it held is lost)"
_DAMAGED = {
    "store.sqlite": (
        "it held the articles and their texts: put back a backup of it, or move it aside and "
        "add the articles again (articlebot index add)"
    ),
    "embeddings.sqlite": "it is a cache of vectors: delete it",
}


def _is_sqlite(path: Path) -> bool:
    """Whether ``path`` starts as every SQLite database does (an empty file will be one)."""
    try:
        with path.open("rb") as file:
            head = file.read(16)
    except OSError:
        return True  # not this check's to say
    return not head or head == b"SQLite format 3\x00"


def data_dir_problem(exc: OSError | sqlite3.Error, data_dir: Path) -> str:
    """What keeps ``data_dir`` from being used, and what to do about it.

    An ``OSError`` about anything but the data directory (a chats database set apart, say)
    is said as the operating system says it.
    """
    data_dir = Path(data_dir).absolute()
    if isinstance(exc, sqlite3.Error):
        damaged = [f for f in sorted(data_dir.glob("*.sqlite")) if not _is_sqlite(f)]
        if damaged:
            return "; ".join(
                f"{f} is damaged ({exc}): {_DAMAGED.get(f.name, _ANEW)}" for f in damaged
            )
        return f"cannot open the databases in {data_dir} ({exc}): {FIX_DATA_DIR}"
    if not exc.filename:  # not about a file at all
        return str(exc)
    filename = Path(str(exc.filename)).absolute()
    if not filename.is_relative_to(data_dir):
        return f"{exc.strerror or exc}: {filename}"
    # "Not a directory" names the data directory; the culprit is a file on the way to it.
    blocking = next((p for p in (data_dir, *data_dir.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        reason = f"{'it' if blocking == data_dir else blocking} is a file, not a directory"
    else:
        reason = f"{exc.strerror or exc}: {filename}"
    return f"cannot use the data directory {data_dir}: {reason}; {FIX_DATA_DIR}"
