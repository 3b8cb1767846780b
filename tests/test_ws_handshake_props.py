"""Properties of the upgrade-request parser (protocol/wshandshake.py)."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from triochat.protocol.wshandshake import (
    MAX_HEAD_BYTES,
    HandshakeError,
    UpgradeRequest,
    accept_key,
    find_head_end,
    parse_request,
    refusal,
    valid_field,
)

from .protocol_strategies import PROPERTIES

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(TCHARS, min_size=1, max_size=12)
targets = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40).map(
    lambda t: "/" + t
)
hosts = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","), max_size=30)
keys = st.binary(min_size=16, max_size=16).map(base64.b64encode)
spaces = st.sampled_from(["", " ", "  ", "\t", " \t"])
# Values of fields the parser ignores: visible characters and inner spaces, no commas needed.
values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(str.strip)
RESERVED = {
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "transfer-encoding",
    "content-length",
}
others = st.lists(
    st.tuples(tokens.filter(lambda n: n.lower() not in RESERVED), values),
    max_size=6,
)
offers = st.lists(
    st.tuples(tokens, st.lists(st.tuples(tokens, st.one_of(st.none(), tokens)), max_size=3)).map(
        lambda o: "; ".join([o[0], *(k if v is None else f"{k}={v}" for k, v in o[1])])
    ),
    max_size=3,
)


def recase(name: str, flips: list[bool]) -> str:
    flips = (flips + [False] * len(name))[: len(name)]
    return "".join(c.swapcase() if flip else c for c, flip in zip(name, flips, strict=True))


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, UpgradeRequest]:
    """A valid upgrade request in a random but legal spelling, and what it means."""
    target, host, key = draw(targets), draw(hosts), draw(keys)
    protocols, extensions = draw(st.lists(tokens, max_size=3)), draw(offers)
    fields = [
        ("Host", host),
        ("Upgrade", draw(st.sampled_from(["websocket", "WebSocket", "foo, websocket"]))),
        ("Connection", draw(st.sampled_from(["Upgrade", "upgrade", "keep-alive, Upgrade"]))),
        ("Sec-WebSocket-Key", key.decode()),
        ("Sec-WebSocket-Version", "13"),
    ]
    if protocols:
        fields.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    if extensions:
        fields.append(("Sec-WebSocket-Extensions", ", ".join(extensions)))
    fields += draw(others)
    fields = draw(st.permutations(fields))
    lines = [f"GET {target} HTTP/1.1"]
    for name, value in fields:
        name = recase(name, draw(st.lists(st.booleans(), max_size=len(name))))
        lines.append(f"{name}:{draw(spaces)}{value}{draw(spaces)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    meaning = UpgradeRequest(
        target=target, host=host, key=key, subprotocols=tuple(protocols), extensions=tuple(extensions)
    )
    return data, meaning


def outcome(data: bytes) -> UpgradeRequest | HandshakeError:
    """The parse of *data*, or its documented error; anything else fails the test."""
    try:
        return parse_request(data)
    except HandshakeError as exc:
        assert 400 <= exc.status <= 499 and exc.reason
        assert all(valid_field(n, v) for n, v in exc.headers)
        return exc


@PROPERTIES
@given(requests())
def test_valid_requests_parse_to_what_they_say(case: tuple[bytes, UpgradeRequest]) -> None:
    data, meaning = case
    assert find_head_end(data) == len(data)
    assert parse_request(data) == meaning


@PROPERTIES
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_request_or_the_documented_error(data: bytes) -> None:
    outcome(data)
    outcome(data + b"\r\n\r\n")


@PROPERTIES
@given(requests(), st.data())
def test_a_damaged_request_gives_a_request_or_the_documented_error(
    case: tuple[bytes, UpgradeRequest], data: st.DataObject
) -> None:
    head, _ = case
    at = data.draw(st.integers(0, len(head)))
    cut = data.draw(st.integers(0, 4))
    inserted = data.draw(st.binary(max_size=4) | st.sampled_from([b"\r", b"\n", b"\r\n", b"\r\n ", b"\x00"]))
    outcome(head[:at] + inserted + head[at + cut :])


@PROPERTIES
@given(requests(), st.sampled_from(["\r", "\n", "\x00", "\x7f", "\x1b", "\r\nX-Injected: 1"]))
def test_a_control_character_in_any_value_is_refused(case: tuple[bytes, UpgradeRequest], bad: str) -> None:
    head, _ = case
    lines = head.split(b"\r\n")
    # Put the bad character inside the Host value (always there).
    for i, line in enumerate(lines):
        if line.lower().startswith(b"host:"):
            lines[i] = line + b"x" + bad.encode() + b"y"
    damaged = b"\r\n".join(lines)
    result = outcome(damaged)
    if bad.startswith("\r\n"):
        # A new line makes a new field: the request is fine, but the value did not grow it.
        assert not isinstance(result, UpgradeRequest) or "X-Injected" not in result.host
    else:
        assert isinstance(result, HandshakeError)


@PROPERTIES
@given(st.integers(1, 3 * MAX_HEAD_BYTES), st.binary(min_size=1, max_size=8))
def test_heads_over_the_limit_are_refused(extra: int, fill: bytes) -> None:
    data = (fill * (MAX_HEAD_BYTES // len(fill) + extra))[: MAX_HEAD_BYTES + extra] + b"\r\n\r\n"
    result = outcome(data)
    assert isinstance(result, HandshakeError) and "too large" in result.reason


@PROPERTIES
@given(st.binary(min_size=0, max_size=64))
def test_accept_key_is_base64_of_sha1_of_key_and_guid(key: bytes) -> None:
    digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11", usedforsecurity=False).digest()
    assert base64.b64decode(accept_key(key)) == digest


@PROPERTIES
@given(st.binary(max_size=20), st.binary(max_size=40), st.binary(max_size=100))
def test_a_refusal_is_one_head_with_the_body_counted(name: bytes, value: bytes, body: bytes) -> None:
    try:
        data = refusal(403, [(name, value)], body)
    except ValueError:
        assert not valid_field(name, value)
        return
    response, _, rest = data.partition(b"\r\n\r\n")
    assert rest == body
    lines = response.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 403 Forbidden"
    assert lines[1:] == [name + b": " + value, b"Content-Length: %d" % len(body), b"Connection: close"]
