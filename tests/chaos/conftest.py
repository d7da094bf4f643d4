"""A small real HTTP/1.1 server on 127.0.0.1 whose routes each test scripts: bombs, drops, echoes.

It plays a UAA (``POST /oauth/token``, checking client id and secret) and any API route a test
adds. It runs in a thread, so it keeps answering while the client under test blocks its loop.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

CLIENT_ID = "sb-chaos!b1|cis-central!b14"
CLIENT_SECRET = "Ch4os-client-S3cret-Qw7"
WRONG_SECRET = "wr0ng-client-S3cret-Pz3"
PASSWORD = "Ch4os-P4ssword-Lk2"

Route = Callable[["Exchange"], None]


class Exchange:
    """One request as the server got it, and ways to answer (or not answer) it."""

    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        self.handler = handler
        self.method = handler.command
        self.path = handler.path
        self.headers = handler.headers
        self.body = body

    def reply(self, status: int, body: bytes | dict[str, Any] = b"", headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        handler = self.handler
        handler.send_response(status)
        all_headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
        for name, value in all_headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        try:
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:  # the client gave up reading (the size cap at work)
            handler.close_connection = True

    def stream(self, status: int, chunks: Iterator[bytes], headers: dict[str, str] | None = None) -> int:
        """Answer with a chunked body; returns how many body bytes went out before the client hung up."""
        handler = self.handler
        handler.send_response(status)
        all_headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", **(headers or {})}
        for name, value in all_headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        sent = 0
        try:
            for chunk in chunks:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True
        return sent

    def drop(self) -> None:
        """Close the connection without a byte of response (the request was processed, the answer lost)."""
        handler = self.handler
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        exchange = Exchange(self, self.rfile.read(length) if length else b"")
        loopback = self.server.loopback
        path = self.path.split("?")[0]
        loopback.hits[(self.command, path)] += 1
        loopback.seen.append(exchange)
        route = loopback.routes.get((self.command, path))
        if route is None:
            exchange.reply(404, {"error": {"code": "404", "message": f"no route {self.command} {path}"}})
        else:
            route(exchange)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    loopback: Loopback

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are the point of these tests, not noise


class Loopback:
    """The running server: ``routes[(METHOD, path)] = fn(exchange)``; ``hits`` counts requests."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.hits: Counter[tuple[str, str]] = Counter()
        self.seen: list[Exchange] = []
        self.tokens: dict[str, str] = {}  # access token -> the secret it was issued for
        self.secrets = {CLIENT_ID: CLIENT_SECRET}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.loopback = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.routes[("POST", "/oauth/token")] = self._token
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _token(self, exchange: Exchange) -> None:
        form = dict(parse_qsl(exchange.body.decode()))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = exchange.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id not in self.secrets or self.secrets[client_id] != secret:
            exchange.reply(401, {"error": "unauthorized", "error_description": "Bad credentials"})
            return
        if form.get("grant_type") == "password" and form.get("password") != PASSWORD:
            exchange.reply(401, {"error": "unauthorized", "error_description": "Bad credentials"})
            return
        token = f"tok-{len(self.tokens)}-for-{client_id}"
        self.tokens[token] = secret or ""
        exchange.reply(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def authorized(self, exchange: Exchange) -> bool:
        auth = exchange.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def cis_key(self, *, secret: str = CLIENT_SECRET) -> dict[str, Any]:
        return {
            "endpoints": {"accounts_service_url": self.url, "entitlements_service_url": self.url},
            "uaa": {"clientid": CLIENT_ID, "clientsecret": secret, "url": self.url},
        }


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.close()


def gzip_bomb(mebibytes: int) -> bytes:
    """A gzip body of about a KB per MiB that inflates to ``mebibytes`` MiB of zeros.

    Built from one compressed MiB repeated (each block ends with a full flush, so every block is
    the same bytes), which takes a fraction of a second instead of compressing the whole thing.
    """
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return header + one * mebibytes + compressor.flush() + trailer
