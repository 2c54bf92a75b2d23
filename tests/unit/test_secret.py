"""Passwords in :class:`StoreConfig` never show: repr, str, asdict, pickle, exception texts."""

from __future__ import annotations

import copy
import dataclasses
import logging
import pickle

import pytest

from scyllabatch import Secret, StoreConfig, StoreValidationError
from scyllabatch._driver import connect

PASSWORD = "hunter2-7f3c9a"


def config() -> StoreConfig:
    return StoreConfig(username="app", password=PASSWORD)


def test_a_str_password_is_accepted_and_stored_as_a_secret() -> None:
    cfg = config()
    assert isinstance(cfg.password, Secret)
    assert cfg.password.get_secret_value() == PASSWORD
    # a Secret given directly is kept as it is
    given = Secret(PASSWORD)
    assert StoreConfig(username="app", password=given).password is given


def test_repr_str_format_and_asdict_hide_the_password() -> None:
    cfg = config()
    secret = cfg.password
    assert isinstance(secret, Secret)
    texts = [
        repr(cfg),
        str(cfg),
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret:>20}",
        "%s %r" % (secret, secret),  # noqa: UP031 - the old formatting path too
        repr(dataclasses.asdict(cfg)),
        str(dataclasses.astuple(cfg)),
        repr(dataclasses.replace(cfg, port=9043)),
    ]
    for text in texts:
        assert PASSWORD not in text
    assert str(secret) == "**********"
    assert dataclasses.asdict(cfg)["password"] == secret  # the masked object, not the text


def test_pickle_never_carries_the_password() -> None:
    cfg = config()
    data = pickle.dumps(cfg)
    assert PASSWORD.encode() not in data
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert PASSWORD.encode() not in pickle.dumps(cfg, protocol=protocol)
    restored = pickle.loads(data)
    assert restored.username == "app"
    assert isinstance(restored.password, Secret)
    assert restored.password.redacted
    assert restored.password != cfg.password
    with pytest.raises(StoreValidationError, match="pickled") as caught:
        restored.password.get_secret_value()
    assert caught.value.field == "password"
    # setting it again is the documented way back
    again = dataclasses.replace(restored, password=PASSWORD)
    assert isinstance(again.password, Secret)
    assert again.password.get_secret_value() == PASSWORD


def test_a_pickled_config_fails_before_any_io_with_a_clear_message() -> None:
    restored = pickle.loads(pickle.dumps(dataclasses.replace(config(), hosts=("192.0.2.1",))))
    with pytest.raises(StoreValidationError, match=r"replace\(config, password="):
        connect(restored)


def test_copies_in_the_same_process_keep_the_value() -> None:
    cfg = config()
    for clone in (copy.copy(cfg), copy.deepcopy(cfg)):
        assert isinstance(clone.password, Secret)
        assert clone.password.get_secret_value() == PASSWORD
        assert clone == cfg


def test_secrets_compare_by_value_and_are_immutable() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))
    with pytest.raises(AttributeError):
        Secret("a")._value = "b"  # type: ignore[misc]


def test_a_non_str_password_is_rejected_without_echoing_it() -> None:
    with pytest.raises(StoreValidationError) as caught:
        StoreConfig(username="app", password=b"bytes-pw-123")  # type: ignore[arg-type]
    assert "bytes-pw-123" not in str(caught.value)
    assert caught.value.field == "password"


def test_validation_errors_and_logs_of_a_config_never_show_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreValidationError) as caught:
        StoreConfig(username="app", password=PASSWORD, port=0)
    assert PASSWORD not in str(caught.value)
    logging.getLogger("scyllabatch").info("config %s / %r", config(), config())
    assert PASSWORD not in caplog.text
