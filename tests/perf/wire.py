"""Count database round trips on the wire, without touching product code.

`RoundTripCounter` is a tiny PostgreSQL protocol proxy: it listens on a Unix socket in a temporary
directory, forwards bytes to the real server untouched, and reads the client's messages as they
pass. A round trip is a turn of the conversation: the client sends (one message or a pipelined
batch: Parse/Bind/Execute..., Sync) after the server has answered its previous turn. The startup
exchange is counted separately. Each turn is labelled with the statements it carried (the text of
each simple Query and each Parse), so a pipelined BEGIN; statement; COMMIT shows as one turn of
three statements, and a transaction that waits between its statements shows as several turns.

It sees every client (tpg.db's connection, procrastinate's pool, psql...) the same way, so the
counts are measured rather than inferred from the code. Timings never go through it.
"""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import psycopg

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102


@dataclass
class Recording:
    """Round trips seen while a `record()` block ran, in order, each with its statements."""

    turns: list[list[str]] = field(default_factory=list)
    connects: int = 0

    @property
    def round_trips(self) -> int:
        return len(self.turns)

    def by_kind(self, classify) -> Counter[str]:
        """Round trips by what they ran: one label per turn, its statements joined by '+'."""
        return Counter("+".join(classify(text) for text in turn) or "Sync only" for turn in self.turns)


def _upstream_address(url: str) -> tuple[int, object]:
    params = psycopg.conninfo.conninfo_to_dict(url)
    host = str(params.get("host") or "/var/run/postgresql").split(",")[0]
    port = int(str(params.get("port") or "5432").split(",")[0])
    if host.startswith("/"):
        return socket.AF_UNIX, os.path.join(host, f".s.PGSQL.{port}")
    return socket.AF_INET, (host, port)


class RoundTripCounter:
    def __init__(self, url: str) -> None:
        self._family, self._upstream = _upstream_address(url)
        self._dir = tempfile.mkdtemp(prefix="tpg-wire-")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(os.path.join(self._dir, ".s.PGSQL.5432"))
        self._listener.listen(64)
        self._lock = threading.Lock()
        self._recording: Recording | None = None
        self._closed = False
        # Through the proxy: same database, user and password, our socket instead of the server's.
        self.url = psycopg.conninfo.make_conninfo(url, host=self._dir, port="5432", sslmode="disable")
        threading.Thread(target=self._accept_forever, name="wire-accept", daemon=True).start()

    @contextmanager
    def record(self) -> Iterator[Recording]:
        recording = Recording()
        with self._lock:
            self._recording = recording
        try:
            yield recording
        finally:
            with self._lock:
                self._recording = None

    def _note(self, turn: list[str] | None) -> None:
        """Record a finished turn (None: a connection's startup)."""
        with self._lock:
            if self._recording is None:
                return
            if turn is None:
                self._recording.connects += 1
            else:
                self._recording.turns.append(turn)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        try:
            os.unlink(os.path.join(self._dir, ".s.PGSQL.5432"))
            os.rmdir(self._dir)
        except OSError:
            pass

    def _accept_forever(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(self._family, socket.SOCK_STREAM)
            server.connect(self._upstream)
            state = _Conversation()
            threading.Thread(target=self._pump_client, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._pump_server, args=(server, client, state), daemon=True).start()

    @staticmethod
    def _pump_server(server: socket.socket, client: socket.socket, state: _Conversation) -> None:
        try:
            while data := server.recv(65536):
                state.answered = True  # before the client can see the answer and send again
                client.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(client)

    def _pump_client(self, client: socket.socket, server: socket.socket, state: _Conversation) -> None:
        buffer = b""
        started = False  # the startup message has no type byte
        turn: list[str] = []
        noted = True  # the current turn is already in the recording
        try:
            while data := client.recv(65536):
                if state.answered:  # the server answered since the client last sent: a new turn
                    state.answered = False
                    turn, noted = [], False
                buffer += data
                while True:
                    if not started:
                        if len(buffer) < 8:
                            break
                        length, code = struct.unpack("!ii", buffer[:8])
                        if len(buffer) < length:
                            break
                        buffer = buffer[length:]
                        if code not in (_SSL_REQUEST, _GSSENC_REQUEST, _CANCEL_REQUEST):
                            started = True
                            self._note(None)
                            noted = True  # the startup turn is a connect, not a round trip
                        continue
                    if len(buffer) < 5:
                        break
                    kind = buffer[:1]
                    (length,) = struct.unpack("!i", buffer[1:5])
                    if len(buffer) < 1 + length:
                        break
                    body, buffer = buffer[5 : 1 + length], buffer[1 + length :]
                    if kind in (b"p", b"X"):  # authentication (part of connecting), Terminate
                        continue
                    if not noted:
                        self._note(turn)  # the list fills in as the turn's messages are read
                        noted = True
                    if kind == b"Q":
                        turn.append(_text(body))
                    elif kind == b"P":
                        _, _, rest = body.partition(b"\0")  # statement name, then the query
                        turn.append(_text(rest))
                # Noted before it is forwarded: the answer, and so the caller's next step, come after.
                server.sendall(data)
        except OSError:
            pass
        finally:
            _shutdown(server)


@dataclass
class _Conversation:
    answered: bool = True


def _text(raw: bytes) -> str:
    return " ".join(raw.split(b"\0", 1)[0].decode(errors="replace").split())


def _shutdown(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
