"""Real frame sources for the stream tests: video files from the bottle images and a loopback MJPEG server."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np


def bottle_frames(images: list[Path], size: tuple[int, int] = (128, 128)) -> list[np.ndarray]:
    return [cv2.resize(cv2.imread(str(p)), size, interpolation=cv2.INTER_AREA) for p in images]


def write_video(path: Path, frames: list[np.ndarray], fourcc: str = "FFV1", fps: float = 10.0) -> Path:
    """A real video file; FFV1 is lossless, so decoded frames equal ``frames``."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def damage_mjpeg_frame(video: Path, index: int) -> Path:
    """Zero the JPEG payload of frame ``index`` of an MJPG video in place: OpenCV's read of that frame fails
    (``read_video`` stops there), the container still declares every frame."""
    data = bytearray(video.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # JPEG SOI markers
    data[starts[index] + 2 : starts[index + 1] - 8] = bytes(starts[index + 1] - 8 - starts[index] - 2)
    video.write_bytes(bytes(data))
    return video


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class MjpegServer:
    """An MJPEG-over-HTTP camera on 127.0.0.1 (multipart/x-mixed-replace), as IP cameras serve it.

    ``stop()`` kills it (open connections end mid-stream); ``start()`` brings it back on the same port.
    """

    def __init__(
        self,
        frames: list[np.ndarray],
        fps: float = 100.0,
        port: int = 0,
        stall_after: int = 0,
        slow_reconnect: float = 0,
    ) -> None:
        """``stall_after`` N > 0: the first connection stops sending after N frames but stays open (a stalled
        stream); ``stalled_at`` is then the time.monotonic() of its last frame. Later connections stream, after
        ``slow_reconnect`` seconds (a camera that takes a while to come back)."""
        self.jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for f in frames]
        self.interval, self.port = 1.0 / fps, port
        self.sent = 0
        self.stall_after, self.stalled_at, self.slow_reconnect = stall_after, None, slow_reconnect
        self.connections = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._running = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if owner.connections:
                    time.sleep(owner.slow_reconnect)
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                owner.connections += 1
                stall = owner.stall_after if owner.connections == 1 else 0
                sent = 0
                try:
                    while owner._running.is_set():
                        if stall and sent == stall:
                            owner.stalled_at = owner.stalled_at or time.monotonic()
                            time.sleep(0.05)  # the connection stays open, nothing more comes
                            continue
                        sent += 1
                        jpeg = owner.jpegs[owner.sent % len(owner.jpegs)]
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                        owner.sent += 1
                        time.sleep(owner.interval)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._running.set()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._running.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
