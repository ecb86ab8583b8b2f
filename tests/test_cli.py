"""The `articlebot` command itself: what a user sees when the installation is broken."""

from __future__ import annotations

import sys

from bot import cli


def test_a_command_module_that_fails_to_import_is_an_error_naming_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "bot.telegram", None)  # import raises ImportError
    assert cli.main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("articlebot: the 'telegram' command cannot load (bot.telegram:")
    assert "pip install -e ." in err


def test_every_command_is_listed_in_help(capsys):
    try:
        cli.main(["--help"])
    except SystemExit as exit:
        assert exit.code == 0
    out = capsys.readouterr().out
    for command in ("index", "ask", "repl", "telegram", "eval", "feeds"):
        assert command in out
