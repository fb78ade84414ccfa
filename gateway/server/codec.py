"""The codec endpoint: encrypted payloads decoded for operators who run Ottoscaler's key.

Temporal's remote codec protocol, which the Web UI (Settings > Codec Server) and
`temporal --codec-endpoint` speak: POST /encode and /decode with a JSON body
{"payloads": [...]} answer the same shape. A browser's preflight (OPTIONS) and answers
carry the CORS headers the Web UI needs, for the origins CODEC_CORS_ORIGINS allows.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from gateway.ports import Port, binding
from gateway.temporal.codec import EncryptionCodec, PayloadKeyMissing

# A request body larger than this is refused: histories' payloads are far smaller.
MAX_BODY_BYTES = 16 * 1024 * 1024
Transform = Callable[[Iterable[Payload]], list[Payload]]


def _handler(codec: EncryptionCodec, origins: set[str]) -> type[BaseHTTPRequestHandler]:
    routes: dict[str, Transform] = {"/encode": codec.sealed, "/decode": codec.opened}

    class CodecHandler(BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:  # the name http.server calls
            self._answer(HTTPStatus.OK, b"")

        def do_POST(self) -> None:
            transform = routes.get(self.path.split("?")[0])
            if transform is None:
                self._answer(HTTPStatus.NOT_FOUND, b"no such endpoint: POST /encode or /decode")
                return
            size = int(self.headers.get("Content-Length") or 0)
            if size > MAX_BODY_BYTES:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"body over 16 MiB")
                return
            try:
                payloads = json_format.Parse(self.rfile.read(size), Payloads())
                done = Payloads(payloads=transform(payloads.payloads))
            except (json_format.ParseError, DecodeError, PayloadKeyMissing) as err:
                self._answer(HTTPStatus.BAD_REQUEST, str(err).encode())
                return
            body = json_format.MessageToJson(done).encode()
            self._answer(HTTPStatus.OK, body, "application/json")

        def _answer(self, status: HTTPStatus, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            origin = self.headers.get("Origin", "")
            if origin in origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Methods", "POST")
                self.send_header("Access-Control-Allow-Headers", "content-type,x-namespace")
                self.send_header("Vary", "Origin")
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: payloads are never logged, and requests need no access log."""

    return CodecHandler


@asynccontextmanager
async def serving_codec(
    codec: EncryptionCodec | None, at: Port, origins: set[str]
) -> AsyncIterator[int | None]:
    """Serves the codec endpoint on the port (0 picks a free one); yields the bound port.
    Without a codec (no payload key) there is nothing to serve: yields None."""
    if codec is None:
        yield None
        return
    with binding(at):
        server = ThreadingHTTPServer((at.host, at.number), _handler(codec, origins))
    thread = threading.Thread(target=server.serve_forever, name="codec-server", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    try:
        yield server.server_address[1]
    finally:
        # shutdown() waits for the serving thread's next poll: off the event loop.
        await asyncio.to_thread(stop)
