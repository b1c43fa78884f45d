"""HTTP front end: a threaded ``http.server`` routing to the portal, and :class:`EmulatorServer`.

Keep-alive HTTP/1.1, one thread per connection. Sleeps (latency model, ``slow`` faults) happen
here, outside the portal lock.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .control import handle_control
from .portal import JSON_TYPE, Portal, Reply


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 300
    disable_nagle_algorithm = True  # headers and body go out at once; no 40 ms delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test portal should not spam stderr."""

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        portal = self.server.portal
        body = self._body()
        url = urlsplit(self.path)
        path = url.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            if path.startswith("/rest/") and self.command in ("GET", "POST"):
                reply = portal.handle_rest(path, url.query, body, headers, self.client_address[0])
            elif path.rstrip("/") == "/oauth/token" and self.command in ("GET", "POST"):
                reply = portal.handle_token(url.query, body, headers)
            elif path.startswith("/_emulator/"):
                status, payload = handle_control(portal, self.command, path, body, url.query)
                reply = Reply(status, payload)
            else:
                reply = Reply(404, b'{"error":"not found"}')
        except Exception:
            traceback.print_exc(file=sys.stderr)
            reply = Reply(
                500,
                b'{"error":"INTERNAL_SERVER_ERROR","error_description":"Internal server error"}',
            )
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.delay_before > 0:
            time.sleep(reply.delay_before)
        if reply.delay_after > 0:
            time.sleep(reply.delay_after)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type or JSON_TYPE)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = _dispatch
    do_POST = _dispatch
    do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    portal: Portal

    def __init__(self, address: tuple[str, int], portal: Portal) -> None:
        self.portal = portal
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are normal here; anything else goes to stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class EmulatorServer:
    """A local Bitrix24 portal on a daemon thread.

    ``EmulatorServer(activities=1000, seed=1, webhook_secret="s", host="127.0.0.1", port=0,
    **options)``; options are Portal settings (``limits``, ``time_factor``, ``latency``,
    ``bucket_rate``, ``bucket_size``, ``operating_limit``, ``access_token_ttl``,
    ``access_token_uses``, ``scope``,
    ``require_https``, cost-model numbers...) and identity (``user_id``, ``client_id``,
    ``client_secret``, ``refresh_token``, ``utc_offset``, ``anchor``).
    """

    def __init__(
        self,
        activities: int = 1000,
        seed: int = 1,
        webhook_secret: str = "emulator-webhook-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.portal = Portal(
            activities=activities, seed=seed, webhook_secret=webhook_secret, **options
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        """Bind and serve on a daemon thread."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), self.portal)
        self._server = server
        self.port = server.server_address[1]
        self.portal.base_url = self.url
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idle keep-alive connections are cut)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Block until stopped (used by the CLI)."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(0.5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (port known after start)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        """``http://HOST:PORT/rest/<user_id>/<secret>/``."""
        return f"{self.url}/rest/{self.portal.user_id}/{self.portal.webhook_secret}/"
