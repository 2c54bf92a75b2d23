"""The non-public parts of the driver that the write path relies on are still there.

Writes are sent as pre-serialized ``BATCH`` messages (``scyllabatch._driver``); pyproject pins the
driver range this was built against. If a release drops one of these, this test says which, and
the store falls back to the public path (bound statements with serialized values).
"""

from __future__ import annotations

import io

from cassandra.cluster import ResponseFuture, Session
from cassandra.protocol import BatchMessage
from cassandra.query import BatchType

from scyllabatch import _driver


def test_session_and_future_expose_what_encoded_batches_need() -> None:
    for name in ("_create_response_future", "_on_request"):
        assert callable(getattr(Session, name, None)), f"Session.{name} is gone"
    assert hasattr(Session, "client_protocol_handler")
    assert callable(getattr(ResponseFuture, "send_request", None))


def test_seam_detection_follows_the_session() -> None:
    class Bare:
        pass

    assert not _driver.encoded_messages_supported(Bare())


def test_a_batch_message_starts_with_its_type_and_statement_count() -> None:
    # _EncodedBatchMessage replaces exactly these three bytes of an empty batch.
    for version in (4, 5):
        body = io.BytesIO()
        BatchMessage(BatchType.UNLOGGED, [], 1).send_body(body, version)
        assert body.getvalue()[:3] == bytes([BatchType.UNLOGGED.value, 0, 0])


def test_encoded_message_writes_the_driver_tail_after_our_statements() -> None:
    statements = b"\x01\x00\x02id\x00\x00"  # one prepared statement with no values
    head = bytes([BatchType.LOGGED.value, 0, 1]) + statements
    for version in (4, 5):
        base = BatchMessage(BatchType.LOGGED, [], 6, None, 1234)
        expected = io.BytesIO()
        BatchMessage(BatchType.LOGGED, [(True, b"id", [])], 6, None, 1234).send_body(
            expected, version
        )
        encoded = io.BytesIO()
        _driver._EncodedBatchMessage(base, head).send_body(encoded, version)
        assert encoded.getvalue() == expected.getvalue()
