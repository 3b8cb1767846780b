"""WebSocket frames as the load generator reads them, with permessage-deflate.

The load generator offers permessage-deflate the way browsers do and counts
the server's data messages by walking frame headers (no inflating, so a
receiver stays cheap).  A reader in *keep* mode (used during login, and by a
few "verifier" receivers for a whole run) also reassembles and inflates every
message, so a sample of deliveries is checked against the text that was sent.
"""

from __future__ import annotations

import re
import zlib

DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
"""The extension offer of Chrome and Firefox (RFC 7692)."""

_TAIL = b"\x00\x00\xff\xff"
_MAX_INFLATED = 1 << 20
_SEQ = re.compile(rb"~(\d+)~")
_VOCABULARY = (
    "the be to of and a in that have it for not on with he as you do at this but his by from they we "
    "say her she or an will my one all would there their what so up out if about who get which go me "
    "when make can like time no just him know take people into year your good some could them see other "
    "than then now look only come its over think also back after use two how our work first well way "
    "even new want because any these give day most us chat room server message hello thanks later"
)
_WORDS = _VOCABULARY.split(" ")


def negotiated_extension(response_head: bytes) -> str | None:
    """The ``Sec-WebSocket-Extensions`` value of a handshake response, if any."""
    for line in response_head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-extensions":
            return value.strip().decode("latin-1")
    return None


def message_text(seq: int, size: int) -> str:
    """Chat-like text of about *size* characters, different for every *seq*, starting ``~seq~``.

    Words are drawn from a fixed list by a small LCG seeded with *seq*, so a
    receiver can rebuild the exact text from the number alone.
    """
    words = [f"~{seq}~"]
    length = len(words[0])
    state = seq * 2654435761 + 12345
    while length < size:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        word = _WORDS[(state >> 8) % len(_WORDS)]
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


class FrameReader:
    """Walks the frames a server sends; counts complete data messages.

    ``feed`` returns how many data messages (text or binary, however
    fragmented) the bytes completed.  Control frames are skipped.  In *keep*
    mode the payloads are reassembled, inflated when RSV1 says compressed, and
    appended to :attr:`messages`.
    """

    def __init__(self, *, deflate: bool, size: int = 0) -> None:
        self.keep = True
        """Reassemble, inflate and check messages (else: only count them)."""
        self.collect = True
        """Also keep them in :attr:`messages` (for :meth:`take`)."""
        self.messages: list[bytes] = []
        self.compressed = 0
        """Data messages whose first frame had RSV1 set."""
        self.close_seen = False
        """Whether a close frame came."""
        self.verified = 0
        self.verify_failures = 0
        self.size = size
        self._inflater = zlib.decompressobj(-15) if deflate else None
        self._rest = b""
        self._parts: list[bytes] = []
        self._rsv1 = False

    def feed(self, data: bytes) -> int:
        """Walk *data* (after what was left over); return the data messages it completed."""
        buffer = self._rest + data if self._rest else data
        end = len(buffer)
        pos = 0
        done = 0
        keep = self.keep
        while end - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                head = 10
            if second & 0x80:
                head += 4  # a masked frame (servers must not send them, but walk it right)
            stop = pos + head + length
            if stop > end:
                break
            opcode = first & 0x0F
            if opcode == 8:
                self.close_seen = True
            elif opcode < 8:  # data or continuation; 8-15 are control frames
                if opcode:
                    self._rsv1 = bool(first & 0x40)
                if keep:
                    self._parts.append(buffer[pos + head : stop])
                if first & 0x80:  # FIN
                    done += 1
                    if self._rsv1:
                        self.compressed += 1
                    if keep:
                        self._finish()
            pos = stop
        self._rest = buffer[pos:]
        return done

    def _finish(self) -> None:
        payload = b"".join(self._parts)
        self._parts = []
        if self._rsv1:
            if self._inflater is None:
                raise RuntimeError("a compressed frame without permessage-deflate negotiated")
            payload = self._inflater.decompress(payload + _TAIL, _MAX_INFLATED)
        if self.collect:
            self.messages.append(payload)
        self._check(payload)

    def _check(self, message: bytes) -> None:
        """Does a benchmark message carry exactly the text its number stands for?"""
        found = _SEQ.search(message)
        if found is None or not self.size:
            return
        expected = message_text(int(found.group(1)), self.size).encode()
        if expected in message:
            self.verified += 1
        else:
            self.verify_failures += 1

    def take(self) -> list[bytes]:
        """The kept messages so far (emptied)."""
        messages, self.messages = self.messages, []
        return messages
