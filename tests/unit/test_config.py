from __future__ import annotations

import pytest

from memos.core.config import Config
from memos.errors import ConfigError


def test_defaults_and_set_persist(tmp_path):
    path = tmp_path / "config.toml"
    config = Config(path)
    assert config.get("context_window") == 128_000
    config.set("context_window", "32000")
    config.set("aliases.fast", "groq/llama-3.1-8b-instant")
    reread = Config(path)
    assert reread.get("context_window") == 32_000
    assert reread.get("aliases.fast") == "groq/llama-3.1-8b-instant"
    assert "[aliases]" in path.read_text()


@pytest.mark.parametrize("key", ["providers.openai.api_key", "openai_api_key", "providers.groq.token"])
def test_secrets_are_refused(tmp_path, key):
    config = Config(tmp_path / "config.toml")
    with pytest.raises(ConfigError, match="never writes secrets"):
        config.set(key, "sk-123")
    assert not (tmp_path / "config.toml").exists()


def test_bad_values_and_keys(tmp_path):
    config = Config(tmp_path / "config.toml")
    with pytest.raises(ConfigError, match="not a whole number"):
        config.set("context_window", "lots")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        config.set("summarize_threshold", "1.5")
    with pytest.raises(ConfigError, match="unknown config key"):
        config.get("no_such_key")


def test_broken_file_gives_clear_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config(path)


def test_database_url_is_checked_and_never_holds_a_password(tmp_path):
    path = tmp_path / "config.toml"
    config = Config(path)
    with pytest.raises(ConfigError, match="not a PostgreSQL URL"):
        config.set("database_url", "mysql://db/memos")
    with pytest.raises(ConfigError, match="never writes passwords"):
        config.set("database_url", "postgresql://memos:hunter2@db:5432/memos")
    assert not path.exists()
    config.set("database_url", "postgresql://memos@db:5432/memos")
    assert Config(path).get("database_url") == "postgresql://memos@db:5432/memos"
