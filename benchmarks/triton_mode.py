"""Mode (c) of ``benchmarks/scale_out.py``: K `edgead-runtime run` clients of one `edgead-runtime serve`.

The server runs from the server venv (``.venv-serve``, PyTriton pins numpy<2: docs/scale-out.md; another with
``EDGEAD_SERVE_BIN``), the clients from the venv running the harness. ``process_tree`` lets the harness count the
server's RSS in full (``serve`` runs ``tritonserver`` and one Python-backend stub per model instance as children).
Numbers recorded with it: benchmarks/results/scale_out_triton/.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVE_BIN = Path(os.environ.get("EDGEAD_SERVE_BIN", REPO / ".venv-serve" / "bin"))
CLIENT_BIN = Path(sys.executable).parent
MODEL_NAME = "model"

Argv = list[str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_ready(http_port: int, name: str = MODEL_NAME) -> bool:
    """Triton's per-model readiness (the server is ready before PyTriton has loaded its models)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/models/{name}/ready", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def triton_mode(
    model: Path,
    cameras: list[Path],
    work: Path,
    tag: str,
    run_flags: tuple[str, ...] = (),
    serve_flags: tuple[str, ...] = (),
) -> tuple[list[tuple[Argv, Path]], list[Argv], object]:
    """(clients, services, ready): one `serve` on free loopback ports, one `run` client per camera."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    server = [str(SERVE_BIN / "edgead-runtime"), "serve", f"{MODEL_NAME}={model}", "--http-port", str(http)]
    server += ["--grpc-port", str(grpc), "--metrics-port", str(metrics), *serve_flags]
    url = f"triton://127.0.0.1:{grpc}/{MODEL_NAME}"
    clients = []
    for k, video in enumerate(cameras):
        events = work / f"{tag}-cam{k}.jsonl"
        argv = [str(CLIENT_BIN / "edgead-runtime"), "run", url, "--source", str(video), "--events", str(events)]
        clients.append(([*argv, "--status-every", "0", *run_flags], events))
    return clients, [server], lambda: model_ready(http)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # a process that ended while being read
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found
