from triochat.protocol.lines import InvalidUtf8, Line, LineDecoder, LineTooLong, encode_line


def test_lines_end_with_lf_or_crlf() -> None:
    decoder = LineDecoder(100)
    assert decoder.feed(b"one\ntwo\r\nthree") == [Line("one"), Line("two")]
    assert decoder.buffered == 5
    assert decoder.feed(b"\r\n") == [Line("three")]
    assert decoder.buffered == 0


def test_line_split_across_chunks_and_empty_lines() -> None:
    decoder = LineDecoder(100)
    events = []
    for byte in b"h\xc3\xa9llo\r\n\n":
        events += decoder.feed(bytes([byte]))
    assert events == [Line("h\u00e9llo"), Line("")]


def test_line_at_the_limit_is_accepted_and_one_over_is_not() -> None:
    decoder = LineDecoder(5)
    assert decoder.feed(b"12345\r\n123456\nok\n") == [Line("12345"), LineTooLong(5), Line("ok")]


def test_over_long_line_is_reported_once_and_discarded_while_streaming() -> None:
    decoder = LineDecoder(10)
    events = decoder.feed(b"x" * 30)
    assert events == [LineTooLong(10)]
    assert decoder.buffered == 0  # nothing of it is kept
    assert decoder.feed(b"y" * 1000) == []
    assert decoder.buffered == 0
    assert decoder.feed(b"zz\nnext\n") == [Line("next")]


def test_invalid_utf8_is_reported_and_the_stream_goes_on() -> None:
    decoder = LineDecoder(100)
    assert decoder.feed(b"\xff\xfe\nfine\n") == [InvalidUtf8(), Line("fine")]


def test_encode_line_uses_crlf() -> None:
    assert encode_line("h\u00e9") == b"h\xc3\xa9\r\n"


def test_bytearray_input() -> None:
    decoder = LineDecoder(100)
    assert decoder.feed(bytearray(b"a")) == []
    assert decoder.feed(bytearray(b"b\n")) == [Line("ab")]
