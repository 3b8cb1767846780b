"""Properties of the server's prebuilt WebSocket frames (wsframe.py), as they are now."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import Message

from triochat.protocol.wsframe import KEEPALIVE_PING, is_close_frame, text_frame

from .protocol_strategies import PROPERTIES

payloads = st.one_of(
    st.binary(max_size=300),
    st.integers(0, 70000).map(lambda n: b"x" * n),
    st.sampled_from([b"x" * 125, b"x" * 126, b"x" * 65535, b"x" * 65536]),
)


@PROPERTIES
@given(payloads)
def test_text_frame_carries_the_payload_exactly(payload: bytes) -> None:
    frame = text_frame(payload)
    assert frame[0] == 0x81  # FIN, text, no reserved bits
    assert not frame[1] & 0x80  # unmasked: server to client
    size = frame[1] & 0x7F
    header = 2 if size < 126 else 4 if size == 126 else 10
    if size == 126:
        size = int.from_bytes(frame[2:4], "big")
        assert size >= 126
    elif size == 127:
        size = int.from_bytes(frame[2:10], "big")
        assert size >= 1 << 16
    assert size == len(payload) and frame[header:] == payload
    assert not is_close_frame(frame)


@PROPERTIES
@given(st.text(max_size=300))
def test_a_websocket_client_reads_the_text(text: str) -> None:
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(text_frame(text.encode("utf-8")))
    events = list(client.events())
    assert len(events) == 1 and isinstance(events[0], Message)
    assert events[0].data == text and events[0].message_finished


@PROPERTIES
@given(st.binary(max_size=20))
def test_is_close_frame_takes_any_bytes(data: bytes) -> None:
    assert is_close_frame(data) == (len(data) > 0 and data[0] == 0x88)
    assert is_close_frame(bytearray(data)) == is_close_frame(memoryview(data)) == is_close_frame(data)
    assert not is_close_frame(KEEPALIVE_PING)
