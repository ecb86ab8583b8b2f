"""Settings: every one documented in .env.example, and .env.example usable as a .env."""

from __future__ import annotations

import re

from bot.settings import Settings

from .conftest import REPO


def env_names() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if alias is not None:  # the tuning group is measured, not set from the environment
            names.add(alias.choices[0])
    return names


def test_every_setting_is_documented_once_in_env_example():
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    assigned = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.M)
    assert sorted(set(assigned)) == sorted(env_names())
    assert len(assigned) == len(set(assigned)), "a setting is listed twice"


def test_env_example_copied_to_dot_env_gives_the_defaults(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    from_example = Settings(_env_file=tmp_path / ".env")
    monkeypatch.chdir(REPO / "tests")  # no .env here
    defaults = Settings(_env_file=None)
    for name in Settings.model_fields:
        if name in ("telegram_bot_token",):
            continue
        assert getattr(from_example, name) == getattr(defaults, name), name


def test_id_lists_accept_commas_and_spaces(monkeypatch):
    monkeypatch.setenv("ADMIN_USER_IDS", "12, 34 56")
    assert Settings(_env_file=None).admin_user_ids == [12, 34, 56]


def test_a_postgres_url_of_another_scheme_is_refused_saying_what_one_looks_like(tmp_path):
    from .conftest import cli

    result = cli(
        "index",
        "stats",
        data_dir=tmp_path,
        env={"ARTICLEBOT_POSTGRES_URL": "http://example.org/db"},
    )
    assert result.returncode == 2
    assert "ARTICLEBOT_POSTGRES_URL" in result.stderr
    assert "a http:// address is no PostgreSQL database" in result.stderr
    assert "postgresql://USER:PASSWORD@HOST:5432/DATABASE" in result.stderr
    for url in ("postgresql://u:p@db:5432/news", "postgres://db/news", "host=db dbname=news"):
        assert Settings(_env_file=None, postgres_url=url).postgres_url.get_secret_value() == url


def test_a_bot_api_address_without_bot_gets_it():
    def base(url: str) -> str:
        return Settings(_env_file=None, telegram_api_base_url=url).telegram_api_base_url

    assert base("http://127.0.0.1:8081") == "http://127.0.0.1:8081/bot"
    assert base("http://127.0.0.1:8081/") == "http://127.0.0.1:8081/bot"
    assert base("https://api.telegram.org/bot") == "https://api.telegram.org/bot"
    assert base("http://h/bot{token}/test") == "http://h/bot{token}/test"
