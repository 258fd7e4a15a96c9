"""A fake API Gateway Management API over real HTTP on 127.0.0.1, for what moto does not do: a 410.

`POST /<stage>/@connections/<id>` records the body and answers 200, or, for an id in `gone`, 410 as
API Gateway does for a closed connection (`x-amzn-ErrorType: GoneException`), or, for an id in
`failing`, 500. With `stalled` set it answers nothing until the fake is closed (an endpoint that
hangs); `delay_seconds` delays every answer (a slow one). boto3's real `apigatewaymanagementapi`
client is pointed at `endpoint` (its request signing, its error parsing and all), so the code under
test meets the wire it meets in AWS.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

STAGE = "dev"


class FakeManagementApi:
    def __init__(self) -> None:
        self.gone: set[str] = set()
        self.failing: set[str] = set()
        self.received: dict[str, list[bytes]] = defaultdict(list)
        self.requests = 0
        self.stalled = False
        self.delay_seconds = 0.0
        self._closing = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                prefix = f"/{STAGE}/@connections/"
                connection = unquote(self.path.removeprefix(prefix)) if self.path.startswith(prefix) else ""
                with fake._lock:
                    fake.requests += 1
                if fake.stalled:
                    fake._closing.wait()
                    return
                if fake.delay_seconds:
                    fake._closing.wait(fake.delay_seconds)
                with fake._lock:
                    if connection in fake.gone:
                        self._answer(410, b'{"message":null}', {"x-amzn-ErrorType": "GoneException"})
                    elif connection in fake.failing or not connection:
                        self._answer(500, b'{"message":"Internal server error"}', {})
                    else:
                        fake.received[connection].append(body)
                        self._answer(200, b"", {})

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{STAGE}"

    def __enter__(self) -> FakeManagementApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # stalled requests end (their clients gave up long before)
        self._server.shutdown()
        self._server.server_close()
