"""Malformed requests over raw sockets: each gets a 4xx, never a 5xx nor a dropped connection."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_KEY, raw_http


def _req(line: bytes, headers: bytes = b"", body: bytes = b"", host: bytes = b"HOST") -> bytes:
    head = b"Host: " + host + b"\r\n" if host else b""
    return line + b"\r\n" + head + b"Connection: close\r\n" + headers + b"\r\n" + body


def _post(path: bytes, body: bytes, key: bytes = TEST_KEY.encode()) -> bytes:
    headers = b"apikey: " + key + b"\r\nContent-Type: application/json\r\n"
    headers += b"Content-Length: %d\r\n" % len(body)
    return _req(b"POST " + path + b" HTTP/1.1", headers, body)


CASES = {
    "garbage request line": (b"HELLO\r\n\r\n", 400),
    "unsupported HTTP version": (_req(b"GET /api/v2/pokemon/1 HTTP/9.9"), 400),
    "unknown method": (_req(b"BREW /api/v2/pokemon/1 HTTP/1.1"), 400),
    "method with bad characters": (_req(b"G@T /api/v2/pokemon/1 HTTP/1.1"), 400),
    "invalid percent-encoding": (_req(b"GET /api/v2/pokemon/%zz HTTP/1.1"), 400),
    "percent-encoded non-UTF-8": (_req(b"GET /api/v2/pokemon/%E9 HTTP/1.1"), 400),
    "NUL byte in the path": (_req(b"GET /api/v2/pokemon/pika\x00chu HTTP/1.1"), 400),
    "percent-encoded NUL": (_req(b"GET /api/v2/pokemon/pika%00chu HTTP/1.1"), 400),
    "overlong URL": (_req(b"GET /api/v2/pokemon/" + b"a" * 20000 + b" HTTP/1.1"), 400),
    "huge header": (_req(b"GET /api/v2/pokemon/1 HTTP/1.1", b"X-Big: " + b"a" * 100_000 + b"\r\n"),
                    400),
    "header without a colon": (_req(b"GET /api/v2/pokemon/1 HTTP/1.1", b"NoColon\r\n"), 400),
    "control character in a header": (_req(b"GET /api/v2/pokemon/1 HTTP/1.1", b"X-A: a\x01b\r\n"),
                                      400),
    "invalid Host header": (_req(b"GET /api/v2/pokemon/ HTTP/1.1", host=b"evil host/<x>"), 400),
    "missing Host in HTTP/1.1": (_req(b"GET /api/v2/pokemon/ HTTP/1.1", host=b""), 400),
    "two Host headers": (_req(b"GET /api/v2/pokemon/ HTTP/1.1", b"Host: other\r\n"), 400),
    "Content-Length not a number": (
        _req(b"POST /text/summarize HTTP/1.1", b"Content-Length: abc\r\n"), 400),
    "negative Content-Length": (
        _req(b"POST /text/summarize HTTP/1.1", b"Content-Length: -5\r\n"), 400),
    "two different Content-Lengths": (
        _req(b"POST /text/summarize HTTP/1.1", b"Content-Length: 2\r\nContent-Length: 3\r\n",
             b"{}"), 400),
    "bad chunk size": (
        _req(b"POST /text/summarize HTTP/1.1", b"Transfer-Encoding: chunked\r\n", b"zz\r\n"), 400),
    "chunked and Content-Length": (
        _req(b"POST /text/summarize HTTP/1.1",
             b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"0\r\n\r\n"), 400),
    "path traversal": (_req(b"GET /api/v2/pokemon/../../../etc/passwd HTTP/1.1"), 404),
    "encoded path traversal": (_req(b"GET /api/v2/pokemon/..%2f..%2fetc%2fpasswd HTTP/1.1"), 400),
    "raw UTF-8 name": (_req("GET /api/v2/pokemon/pokémon HTTP/1.1".encode()), 400),
    "percent-encoded unicode name": (_req(b"GET /api/v2/pokemon/pok%C3%A9mon HTTP/1.1"), 400),
    "full-width digit id": (_req(b"GET /api/v2/pokemon/%EF%BC%91 HTTP/1.1"), 400),
    "space in the name": (_req(b"GET /api/v2/pokemon/mr%20mime HTTP/1.1"), 400),
    "invalid JSON to the Text API": (_post(b"/text/summarize", b"{not json"), 400),
    "empty body to the Text API": (_post(b"/text/ner", b""), 400),
    "non-object JSON to the Text API": (_post(b"/text/ner", b"[1, 2]"), 400),
    "JSON without text": (_post(b"/text/ner", b'{"txt": "hi"}'), 400),
    "non-string text": (_post(b"/text/summarize", b'{"text": 5}'), 400),
    "null text": (_post(b"/text/summarize", b'{"text": null}'), 400),
    "non-UTF-8 body": (_post(b"/text/ner", b'{"text": "\xff"}'), 400),
    "deeply nested JSON": (_post(b"/text/ner", b"[" * 100_000 + b"]" * 100_000), 400),
    "num_phrases a float": (
        _post(b"/text/most_common_phrases", b'{"text": "a b", "num_phrases": 2.5}'), 400),
    "num_phrases NaN": (
        _post(b"/text/most_common_phrases", b'{"text": "a b", "num_phrases": NaN}'), 400),
    "wrong key and bad JSON": (_post(b"/text/ner", b"{", key=b"wrong"), 401),
    "GET on the Text API": (_req(b"GET /text/summarize HTTP/1.1"), 405),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request_gets_4xx(port, name):
    data, expected = CASES[name]
    response = raw_http(port, data.replace(b"HOST", f"127.0.0.1:{port}".encode()))
    assert 400 <= response.status < 500, (response.status, response.body[:200])
    assert response.status == expected, response.body[:200]


def test_oversize_body_is_413(port):
    """A body over 1 MiB is refused with 413 once the server has read past the limit."""
    size = 1024 * 1024 + 64 * 1024
    head = _req(
        b"POST /text/summarize HTTP/1.1",
        b"apikey: " + TEST_KEY.encode() + b"\r\nContent-Length: %d\r\n" % (size + 4096),
    ).replace(b"HOST", f"127.0.0.1:{port}".encode())
    response = raw_http(port, head + b"a" * size, timeout=15)
    assert response.status == 413


def test_server_still_healthy_after_the_table(api):
    import requests

    assert requests.get(f"{api.base_url}/pokemon/1", timeout=10).json()["name"] == "bulbasaur"
    assert api.stats()["by_status"].get("500", 0) == 0
