"""Message limits and permessage-deflate for wsproto's frame parser.

:class:`Framing` is a wsproto extension that every server connection
carries, negotiated or not: it bounds each message (across its fragments,
after decompression) to ``max_message_bytes`` and, when the client offered
permessage-deflate and compression is on, decompresses RSV1 messages through
a bounded :class:`~triochat.protocol.wsdeflate.Inflater`.  Outgoing frames
never pass through it: triochat builds them itself (see :mod:`.wswire`).
"""

from __future__ import annotations

from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

from ..protocol.wsdeflate import CorruptMessage, DeflateParams, Inflater, MessageTooBig, accept_offer

_NONE = RsvBits(False, False, False)
_RSV1 = RsvBits(True, False, False)


class Framing(Extension):
    """Per-connection inbound limits, plus permessage-deflate once agreed."""

    name = "permessage-deflate"

    def __init__(self, limit: int, *, compression: bool) -> None:
        self.limit = limit
        self.compression = compression
        self.params: DeflateParams | None = None
        """Set once an offer was accepted."""
        self.too_big = False
        """True once a message broke the limit (the close code is then 1009)."""
        self._size = 0
        self._control = False
        self._inflater: Inflater | None = None

    def enabled(self) -> bool:
        return True  # the limits apply whether or not compression was agreed

    def offer(self) -> bool | str:
        return False  # servers do not offer

    def accept(self, offer: str) -> bool | str | None:
        if not self.compression or self.params is not None:
            return None  # off, or an earlier offer was taken: only the first counts
        agreed = accept_offer(offer)
        if agreed is None:
            return None
        self.params, response = agreed
        return response

    def frame_inbound_header(
        self, proto: FrameDecoder | FrameProtocol, opcode: Opcode, rsv: RsvBits, payload_length: int
    ) -> CloseReason | RsvBits:
        self._control = opcode.iscontrol()
        if self._control:
            return _NONE
        claimed = _NONE
        if opcode is not Opcode.CONTINUATION:
            self._size = 0
            self._inflater = None
            if rsv.rsv1 and self.params is not None:
                self._inflater = Inflater(self.limit)
                claimed = _RSV1
        # Compressed bytes are bounded too (the inflater bounds what they expand
        # to): generously, as incompressible data grows a little when deflated.
        self._size += payload_length
        if self._size > (self.limit if self._inflater is None else 2 * self.limit + 1024):
            self.too_big = True
            return CloseReason.MESSAGE_TOO_BIG
        return claimed

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if self._control or self._inflater is None:
            return data
        return self._inflate(data, final=False)

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if self._control or self._inflater is None or not fin:
            return None
        out = self._inflate(b"", final=True)
        self._inflater = None
        return out

    def _inflate(self, data: bytes, *, final: bool) -> bytes | CloseReason:
        inflater = self._inflater
        assert inflater is not None
        try:
            return inflater.finish() if final else inflater.feed(data)
        except MessageTooBig:
            self.too_big = True
            return CloseReason.MESSAGE_TOO_BIG
        except CorruptMessage:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
