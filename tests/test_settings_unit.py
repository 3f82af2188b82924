"""Settings read in process: the `.env` file (python-dotenv), the environment over it, and a
wrong value refused in one line that names the variable and says what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import SettingError, Settings


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# the inbox's settings\n"
        "export WHATSAPP_VERIFY_TOKEN=from-file\n"
        "WHATSAPP_APP_SECRET='quoted secret'  # a comment\n"
        'WHATSAPP_ACCESS_TOKEN="pa$${HOME}word"\n'
        "SEND_TIMEOUT = 7\n"
        "DEFAULT_REGION=TZ\n"
    )
    settings = Settings.from_env({"DEFAULT_REGION": "DE", "SEND_WAIT": ""}, env_file=str(env))
    assert settings.whatsapp_verify_token == "from-file"
    assert settings.whatsapp_app_secret == "quoted secret"
    assert settings.whatsapp_access_token == "pa$${HOME}word"  # taken literally
    assert settings.send_timeout == 7.0
    assert settings.default_region == "DE"  # the environment wins
    assert settings.send_wait == Settings().send_wait  # empty: the default


def test_no_env_file_means_defaults(tmp_path: Path) -> None:
    assert Settings.from_env({}, env_file=str(tmp_path / "absent")) == Settings()


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("SEND_TIMEOUT", "abc", "SEND_TIMEOUT='abc' is not valid: expected a number of seconds or hours, e.g. 15"),
        ("SEND_WAIT", "-1", "SEND_WAIT='-1' is not valid: expected a number greater than 0"),
        ("WS_QUEUE_SIZE", "lots", "WS_QUEUE_SIZE='lots' is not valid: expected a whole number, e.g. 5000"),
        ("AGENTS_SEE_UNASSIGNED", "maybe", "AGENTS_SEE_UNASSIGNED='maybe' is not valid: expected true or false"),
        ("SEND_RETRY_DELAYS", "1,x", "SEND_RETRY_DELAYS='1,x' is not valid: expected comma-separated seconds"),
        ("DEFAULT_REGION", "XX", "DEFAULT_REGION='XX' is not valid: expected a two-letter country code"),
        ("DATABASE_URL", "mysql://u:secret@h/db", "DATABASE_URL='mysql://u:***@h/db' is not valid: expected sqlite"),
    ],
)
def test_a_wrong_value_names_its_variable_in_one_line(name: str, raw: str, says: str, tmp_path: Path) -> None:
    with pytest.raises(SettingError) as caught:
        Settings.from_env({name: raw}, env_file=str(tmp_path / "absent"))
    message = str(caught.value)
    assert message.startswith(says) and "\n" not in message
    assert caught.value.name == name
