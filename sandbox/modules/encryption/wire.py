"""A wire tap: see the bytes an observer between client and server would see.

``Tap(port)`` listens on a port of its own and relays every connection to the
server on ``port``, keeping a copy of every byte that passes. Point a client at
the tap instead of the server, and ``tap.show()`` prints what anyone on the
path (the café's Wi-Fi, a router, a proxy) could read: with plain HTTP, the
whole request, cookies and JSON included; with HTTPS, noise.

    tap = Tap(5000)
    requests.get(f"http://127.0.0.1:{tap.port}/api/notes")
    print(tap.show())
    tap.close()
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Tap:
    """Relay TCP connections on this computer to a server, keeping a copy of the bytes."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.chunks: list[tuple[str, bytes]] = []  # ("client" or "server", the bytes it sent)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="wire-tap", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, sink, who in ((client, server, "client"), (server, client, "server")):
                threading.Thread(target=self._relay, args=(source, sink, who), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket, who: str) -> None:
        """Copy bytes from one side to the other, keeping each piece, until one side closes."""
        try:
            while data := source.recv(65536):
                with self._lock:
                    self.chunks.append((who, data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)  # pass the end of the stream along

    def sent(self, who: str = "client") -> bytes:
        """Return every byte one side sent (``"client"`` or ``"server"``), in order."""
        with self._lock:
            return b"".join(data for side, data in self.chunks if side == who)

    def show(self, limit: int = 1500) -> str:
        """Return what passed, as an observer would print it: text as text, the rest as dots."""
        lines = []
        with self._lock:
            chunks = list(self.chunks)
        for who, data in chunks:
            arrow = "client -> server" if who == "client" else "server -> client"
            text = "".join(
                chr(b) if 32 <= b < 127 or b in (10, 13) else "." for b in data[:limit]
            ).replace("\r\n", "\n")
            more = f"\n... ({len(data) - limit} more bytes)" if len(data) > limit else ""
            lines.append(f"--- {arrow}: {len(data)} bytes ---\n{text}{more}")
        return "\n".join(lines) or "(nothing has passed yet)"

    def clear(self) -> None:
        """Forget the bytes seen so far."""
        with self._lock:
            self.chunks.clear()

    def close(self) -> None:
        """Stop listening and close every relayed connection."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread waiting in accept()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def __enter__(self) -> Tap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Tap 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]}>"
