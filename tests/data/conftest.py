"""Hazards for the data loaders' tests (issue 18): gzip bombs, FIFOs, stalled mirrors.

Everything is small on disk and local: a bomb is a few hundred KB that expands to hundreds of MB,
a mirror is a server on 127.0.0.1, and a test that would hang (a FIFO opened for reading) fails
after a generous limit instead of blocking the suite.
"""

from __future__ import annotations

import os
import socket
import threading
import zlib
from pathlib import Path

import pytest


def write_gzip_bomb(path: Path, expands_to: int, head: bytes = b"") -> int:
    """A gzip file of ``head`` then zeros, ``expands_to`` bytes in all, written in a stream (the
    zeros are never held in memory); returns its size on disk."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(c.compress(head))
        left = expands_to - len(head)
        while left > 0:
            n = min(left, len(zeros))
            f.write(c.compress(zeros[:n]))
            left -= n
        f.write(c.flush())
    return path.stat().st_size


@pytest.fixture
def gzip_bomb():
    return write_gzip_bomb


@pytest.fixture
def no_hang():
    """``no_hang(fn, *args, fifo=None, limit=30)``: run ``fn`` in a thread and return (or raise)
    its outcome; if it is still running after ``limit`` seconds (it blocked on ``fifo``), open the
    FIFO's other end to release it and fail the test instead of hanging the suite."""

    def run(fn, *args, fifo: Path | None = None, limit: float = 30.0, **kwargs):
        outcome: dict = {}

        def target():
            try:
                outcome["value"] = fn(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001 (re-raised in the test's thread)
                outcome["error"] = e

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(limit)
        if thread.is_alive():
            if fifo is not None:  # unblock the reader so the thread can end
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
            pytest.fail(f"{getattr(fn, '__name__', fn)} blocked for more than {limit} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    return run


class DribbleServer:
    """A mirror that answers every request slowly: ``head`` at once, then one byte of ``body``
    every ``interval`` seconds (the attack: a per-read timeout never fires)."""

    def __init__(self, head: bytes, body: bytes, interval: float):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.02)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.head, self.body, self.interval = head, body, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(65536)
                conn.sendall(self.head)
                for i in range(len(self.body)):
                    if self.stopped.wait(self.interval):
                        return
                    conn.sendall(self.body[i:i + 1])
            except OSError:
                return

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def dribble():
    """``dribble(head, body, interval) -> DribbleServer``; closed after the test."""
    servers = []

    def make(head: bytes, body: bytes, interval: float = 0.2) -> DribbleServer:
        servers.append(DribbleServer(head, body, interval))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
