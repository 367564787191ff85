"""Helpers for stream_demo.sh: build a video from real images, and serve frames as a loopback MJPEG camera.

python benchmarks/stream_video.py video OUT.avi IMAGE... [--size 256]     lossless FFV1 video, 10 fps
python benchmarks/stream_video.py serve PORT IMAGE... [--fps 10]         MJPEG over HTTP until killed
"""

from __future__ import annotations

import argparse
import http.server
import sys
import time
from pathlib import Path

import cv2


def _frames(paths: list[str], size: int) -> list:
    frames = []
    for path in sorted(paths):
        image = cv2.imread(path)
        if image is None:
            sys.exit(f"stream_video.py: cannot read image '{path}'")
        frames.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
    return frames


def write_video(out: Path, paths: list[str], size: int) -> None:
    # FFV1 is lossless: JPEG-style artefacts move DFM's raw scores well past its threshold (see docs/stream.md)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, (size, size))
    if not writer.isOpened():
        sys.exit(f"stream_video.py: OpenCV cannot write FFV1 to '{out}'")
    frames = _frames(paths, size)
    for frame in frames:
        writer.write(frame)
    writer.release()
    print(f"wrote {len(frames)} frames ({size}x{size}, FFV1, 10 fps) to {out}")


def serve(port: int, paths: list[str], size: int, fps: float) -> None:
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes() for f in _frames(paths, size)]
    state = {"sent": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                while True:
                    jpeg = jpegs[state["sent"] % len(jpegs)]
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
                    state["sent"] += 1
                    time.sleep(1.0 / fps)
            except (BrokenPipeError, ConnectionResetError):
                print(f"client left; {state['sent']} frames sent so far", flush=True)

        def log_message(self, format: str, *args: object) -> None:
            print(f"{self.address_string()} {format % args}", flush=True)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"serving {len(jpegs)} frames at {fps:g} fps on http://127.0.0.1:{port}/stream.mjpg", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["video", "serve"])
    parser.add_argument("target", help="output video file (video) or port (serve)")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
    parser.add_argument("--fps", type=float, default=10.0, help="frames per second served (default 10)")
    args = parser.parse_args()
    if args.mode == "video":
        write_video(Path(args.target), args.images, args.size)
    else:
        serve(int(args.target), args.images, args.size, args.fps)


if __name__ == "__main__":
    main()
