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


def test_a_damaged_database_is_named_with_what_to_do_and_left_as_it_is(data_dir, tmp_path):
    import shutil

    from .conftest import cli

    kept = tmp_path / "kept"
    shutil.copytree(data_dir, kept)
    (data_dir / "store.sqlite").write_bytes(b"overwritten by mistake\n")
    for command in (("index", "check"), ("ask", "what did Russia promise?"), ("index", "list")):
        result = cli(*command, data_dir=data_dir)
        assert result.returncode == 2, command
        assert f"{data_dir.absolute() / 'store.sqlite'} is damaged" in result.stderr
        assert "put back a backup of it" in result.stderr
        assert "directory articlebot can create" not in result.stderr  # not a permission
    assert (data_dir / "store.sqlite").read_bytes() == b"overwritten by mistake\n"
    # The embedding cache damaged: an add says to delete it, and adds nothing meanwhile.
    (kept / "embeddings.sqlite").write_bytes(b"x" * 100)
    article = tmp_path / "bakery.txt"
    article.write_text("Bakery opens\n\nA bakery opened in Leith on Monday.", encoding="utf-8")
    result = cli("index", "add", str(article), data_dir=kept)
    assert result.returncode == 2
    assert "embeddings.sqlite is damaged" in result.stderr and "delete it" in result.stderr
    assert "Bakery opens" not in cli("index", "list", data_dir=kept).stdout
