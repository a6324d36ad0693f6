"""The response parser of the raw-socket engines, fed the way a socket delivers bytes."""

from __future__ import annotations

import pytest

from bench_client.http11 import ProtocolError, ResponseParser, Target, build_request
from bench_client.request import BUILTIN, Request

BODY = b'{"message": "This is a GET request!"}'
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


def _feed_bytewise(parser: ResponseParser, data: bytes):
    response = None
    for i in range(len(data)):
        response = parser.feed(data[i : i + 1])
        if response is not None:
            assert i == len(data) - 1, "complete before the last byte"
    return response


def test_content_length_in_one_piece_and_byte_by_byte():
    data = HEAD % len(BODY) + BODY
    whole = ResponseParser().feed(data)
    assert whole is not None
    assert (whole.status, whole.body, whole.will_close) == (200, BODY, False)
    assert _feed_bytewise(ResponseParser(), data) == whole


def test_chunked_body_with_extensions_and_trailers():
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n3\r\n 1}\r\n0\r\nX-Trailer: y\r\n\r\n'
    )
    response = _feed_bytewise(ResponseParser(), data)
    assert response is not None
    assert response.body == b'{"a": 1}'


def test_body_delimited_by_connection_close():
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.0 200 OK\r\n\r\n" + BODY) is None
    response = parser.eof()
    assert (response.body, response.will_close) == (BODY, True)


@pytest.mark.parametrize(
    ("head", "closes"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", True),
        (b"HTTP/1.1 200 OK\r\nconnection: Close\r\n", True),
        (b"HTTP/1.1 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", False),
    ],
)
def test_when_the_server_will_close(head, closes):
    response = ResponseParser().feed(head + b"Content-Length: 2\r\n\r\n{}")
    assert response is not None
    assert response.will_close is closes


def test_no_body_statuses():
    response = ResponseParser().feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert response is not None
    assert (response.status, response.body) == (204, b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "bad status code"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", "bytes after the response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    ],
)
def test_protocol_errors(data, message):
    with pytest.raises(ProtocolError, match=message):
        ResponseParser().feed(data)


def test_eof_before_or_inside_a_response():
    with pytest.raises(ConnectionError, match="before any response"):
        ResponseParser().eof()
    parser = ResponseParser()
    parser.feed(HEAD % 100 + b"{")
    with pytest.raises(ConnectionError, match="in the middle of the response"):
        parser.eof()


def test_request_bytes_and_targets():
    target = Target.from_url("http://127.0.0.1:5001", "/post")
    request = build_request(BUILTIN["POST"], target, keep_alive=True)
    assert request.startswith(b"POST /post HTTP/1.1\r\nHost: 127.0.0.1:5001\r\n")
    assert b"Content-Type: application/json\r\n" in request
    assert b"Content-Length: 16\r\n" in request
    assert request.endswith(b'\r\n\r\n{"key": "value"}')
    own = Request("x", "GET", "/x", headers=(("Accept", "text/html"), ("X-Trace", "t")))
    sent = build_request(own, target, keep_alive=False)
    assert sent.count(b"Accept:") == 1 and b"Accept: text/html\r\n" in sent
    assert b"X-Trace: t\r\n" in sent and b"Content-Length" not in sent
    assert Target.from_url("http://[::1]:8000", "/get").url == "http://[::1]:8000/get"
    assert Target.from_url("http://example.org", "/get").host_header == "example.org"
    with pytest.raises(ValueError, match="only http://"):
        Target.from_url("https://example.org", "/")
