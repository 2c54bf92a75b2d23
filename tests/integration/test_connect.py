"""Connecting: per-host ports, and every failure on the way is a StoreConnectionError."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from scyllabatch import AsyncStore, Store, StoreConnectionError, StoreValidationError
from tests.conftest import node_hosts, node_port

pytestmark = pytest.mark.integration


def hosts_with_port() -> list[str]:
    return [f"{host}:{node_port()}" for host in node_hosts()]


def test_hosts_may_carry_their_own_port(keyspace: str) -> None:
    # port=1 would be refused: the port in each host entry is the one used
    with Store.connect(hosts=hosts_with_port(), port=1, keyspace=keyspace) as store:
        store.setup()
        store.put(("a",), "k", {"v": 1})
        item = store.get(("a",), "k")
        assert item is not None
        assert item.value == {"v": 1}
        ports = {host.endpoint.port for host in store.session.cluster.metadata.all_hosts()}
        assert ports == {node_port()}


async def test_async_store_takes_host_ports_too(keyspace: str) -> None:
    store = await AsyncStore.connect(hosts=hosts_with_port(), port=1, keyspace=keyspace)
    async with store:
        await store.asetup()
        await store.aput(("a",), "k", {"v": 2})
        item = await store.aget(("a",), "k")
        assert item is not None
        assert item.value == {"v": 2}


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        (["127.0.0.1:9999"], "could not connect to 127.0.0.1:9999"),
        (["[::1]:9999"], "could not connect to [::1]:9999"),
        (["no-such-host.invalid"], "resolves to an address"),
        (["no-such-host.invalid:9042"], "resolves to an address"),
    ],
)
def test_connection_failures_are_store_connection_errors(hosts: list[str], message: str) -> None:
    with pytest.raises(StoreConnectionError, match=message.replace("[", r"\[")) as caught:
        Store.connect(hosts=hosts, connect_timeout=5)
    assert caught.value.__cause__ is not None  # the driver's error is chained


async def test_async_connection_failures_are_store_connection_errors() -> None:
    with pytest.raises(StoreConnectionError, match=r"127\.0\.0\.1:9999"):
        await AsyncStore.connect(hosts=["127.0.0.1:9999"], connect_timeout=5)


def test_a_bad_host_entry_fails_before_any_io() -> None:
    with pytest.raises(StoreValidationError, match="invalid port") as caught:
        Store.connect(hosts=["127.0.0.1:http"])
    assert caught.value.field == "hosts"


def test_tls_to_a_plain_text_node_is_a_connection_error() -> None:
    # The test node does not speak TLS: the handshake fails, and says so as a StoreError.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.raises(StoreConnectionError) as caught:
        Store.connect(hosts=hosts_with_port(), ssl_context=context, connect_timeout=5)
    assert "TLS handshake with" in str(caught.value)
    assert "ssl_context" in str(caught.value)


def test_existing_session_is_left_open(cql_session: Any, keyspace: str) -> None:
    store = Store(cql_session, keyspace=keyspace)
    store.setup()
    store.close()
    assert not cql_session.is_shutdown
