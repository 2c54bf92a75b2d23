"""Authentication against a real password-protected node, and the password never leaking.

The node is a second Cassandra started for this module on another loopback address (see
``authnode.py``); it takes about 30 s to start and 10 s to stop.
"""

from __future__ import annotations

import json
import logging
import pickle
import traceback
import uuid
from collections.abc import Iterator

import pytest

from scyllabatch import (
    AsyncStore,
    GetOp,
    PutOp,
    Store,
    StoreAuthenticationError,
    StoreConnectionError,
    StoreValidationError,
)
from scyllabatch.cli import main
from tests.integration.authnode import AuthNode, auth_node

pytestmark = pytest.mark.integration

WRONG = f"wrong-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def node() -> Iterator[AuthNode]:
    with auth_node() as started:
        yield started


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # everything the driver and the SDK log
    return caplog


def full_text(exc: BaseException) -> str:
    """The exception as a traceback prints it, with its chained causes."""
    return "".join(traceback.format_exception(exc))


def test_wrong_password(node: AuthNode, debug_logs: pytest.LogCaptureFixture) -> None:
    with pytest.raises(StoreAuthenticationError) as caught:
        Store.connect(hosts=[node.host], port=node.port, username=node.username, password=WRONG)
    error = caught.value
    assert isinstance(error, StoreConnectionError)
    assert "rejected the credentials" in str(error)
    assert node.username in str(error)
    assert "Is the node running" not in str(error)
    assert WRONG not in full_text(error)
    assert WRONG not in debug_logs.text


async def test_wrong_password_async(node: AuthNode, debug_logs: pytest.LogCaptureFixture) -> None:
    with pytest.raises(StoreAuthenticationError) as caught:
        await AsyncStore.connect(
            hosts=[node.host], port=node.port, username=node.username, password=WRONG
        )
    assert WRONG not in full_text(caught.value)
    assert WRONG not in debug_logs.text


def test_no_credentials_for_a_protected_cluster(node: AuthNode) -> None:
    with pytest.raises(StoreAuthenticationError, match="requires authentication"):
        Store.connect(hosts=[node.host], port=node.port)


def test_right_password_works_and_leaks_nowhere(
    node: AuthNode, debug_logs: pytest.LogCaptureFixture
) -> None:
    keyspace = f"auth_{uuid.uuid4().hex[:8]}"
    seen: list[str] = []
    with Store.connect(
        hosts=[node.host],
        port=node.port,
        keyspace=keyspace,
        username=node.username,
        password=node.password,
    ) as store:
        try:
            store.setup()
            ns = ("secrets", "test")
            assert store.batch([PutOp(ns, "k", {"v": 1}), GetOp(ns, "k")]) == [None, None]
            item = store.get(ns, "k")
            assert item is not None
            assert item.value == {"v": 1}
            with pytest.raises(StoreValidationError) as invalid:
                store.batch([PutOp((), "k", {"v": 1})])
            seen += [
                repr(store),
                repr(store.config),
                str(store.config),
                json.dumps(store.get_metrics(), default=str),
                store.metrics_text(),
                full_text(invalid.value),
            ]
            assert node.password.encode() not in pickle.dumps(store.config)
        finally:
            store.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    seen.append(debug_logs.text)
    for text in seen:
        assert node.password not in text


def test_cli_with_credentials(
    node: AuthNode, capsys: pytest.CaptureFixture[str], debug_logs: pytest.LogCaptureFixture
) -> None:
    target = ["--hosts", f"{node.host}:{node.port}", "--username", node.username]
    environ = {"SCYLLABATCH_PASSWORD": node.password}
    assert main(["doctor", *target, "--json", "--pings", "1"], environ=environ) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["server"]["product"] == "Apache Cassandra"

    # the password may also be typed at the prompt
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return node.password

    assert main(["demo", *target, "--ops", "5"], environ={}, prompt=prompt) == 0
    assert asked == [f"password for {node.username}: "]
    demo = capsys.readouterr()
    assert "5/5 found" in demo.out

    assert main(["doctor", *target], environ={"SCYLLABATCH_PASSWORD": WRONG}) == 1
    failed = capsys.readouterr()
    assert "rejected the credentials" in failed.out
    assert main(["demo", *target], environ={"SCYLLABATCH_PASSWORD": WRONG}) == 1
    failed_demo = capsys.readouterr()
    assert "StoreAuthenticationError" in failed_demo.err
    for text in (*demo, *failed, *failed_demo, debug_logs.text, json.dumps(report)):
        assert node.password not in text
        assert WRONG not in text
