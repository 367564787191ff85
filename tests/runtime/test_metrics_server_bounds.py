"""/metrics on a network it does not control (issue 11, item 8): half-open connections are capped and dropped
when idle, so they cannot pile up threads, and the endpoint answers again once they are gone."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from edgead_runtime.stream.prometheus import Metrics, MetricsServer

from .stream_helpers import wait_for


def test_half_open_connections_are_capped_and_time_out() -> None:
    server = MetricsServer(Metrics(), 0, idle_timeout=0.5, max_connections=8)
    before = threading.active_count()
    sockets, peak = [], before
    try:
        for _ in range(200):  # connect, send nothing: what 1,500 half-open connections did to 1,511 threads
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))
            sockets.append(sock)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            peak = max(peak, threading.active_count())
            time.sleep(0.01)
        assert peak <= before + 8 and server.refused > 0
        wait_for(lambda: threading.active_count() <= before, 10, "idle connections dropped")
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
        assert "edgead_frames_processed_total" in body
    finally:
        for sock in sockets:
            sock.close()
        server.close()


def test_a_silent_connection_is_closed_after_the_idle_timeout() -> None:
    server = MetricsServer(Metrics(), 0, idle_timeout=0.3)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            start = time.monotonic()
            while sock.recv(1024):  # the server hangs up: EOF
                pass
            assert time.monotonic() - start < 3
    finally:
        server.close()
