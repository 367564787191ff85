"""A real Triton server (``edgead-runtime serve``, PyTriton) and the real ``triton`` client backend, nothing mocked.

The server runs in its own venv (``.venv-serve``, made by ``.ci/run`` from /usr/bin/python3.11: PyTriton pins
numpy<2 and its Python-backend stub needs that interpreter's shared libpython; docs/scale-out.md) as a
subprocess on free loopback ports. Every server started here is stopped by the test (SIGTERM, then SIGKILL of its
process group), and the server binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from edgead.cli import main as edgead_main
from edgead_runtime.backends.triton import served_metadata
from edgead_runtime.cli import main as runtime_main
from edgead_runtime.detector import Detector
from edgead_runtime.errors import BackendError, ModelFileError
from edgead_runtime.preprocess import read_image

grpc = pytest.importorskip("tritonclient.grpc", reason="needs edgead-runtime[triton] (tritonclient)")

REPO = Path(__file__).resolve().parents[2]
SERVE_PYTHON = Path(os.environ.get("EDGEAD_SERVE_PYTHON", REPO / ".venv-serve" / "bin" / "python"))
START_TIMEOUT_S = 120
SCORE_TOLERANCE = 1e-5


def serve_python() -> Path:
    """The server venv's python; skip (fail on CI, which must have made it) when it is missing."""
    probe = [str(SERVE_PYTHON), "-c", "import pytriton, edgead_runtime"]
    if SERVE_PYTHON.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return SERVE_PYTHON
    reason = f"no server venv at {SERVE_PYTHON} with pytriton + edgead_runtime; `bash .ci/run` makes it"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Server:
    """``edgead-runtime serve MODELS`` in the server venv, on loopback ports, in its own process group."""

    def __init__(self, models: list[str], log: Path, ports: list[int] | None = None) -> None:
        self.models, self.log = models, log
        self.http, self.grpc, self.metrics = ports or free_ports(3)
        self.process: subprocess.Popen | None = None

    def url(self, name: str) -> str:
        return f"triton://127.0.0.1:{self.grpc}/{name}"

    def start(self) -> Server:
        command = [str(serve_python()), "-c", "import sys; from edgead_runtime.cli import main; sys.exit(main())"]
        command += ["serve", *self.models, "--http-port", str(self.http), "--grpc-port", str(self.grpc)]
        command += ["--metrics-port", str(self.metrics)]
        with self.log.open("a") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        client = grpc.InferenceServerClient(f"127.0.0.1:{self.grpc}")
        deadline = time.monotonic() + START_TIMEOUT_S
        names = [m.partition("=")[0] for m in self.models]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if client.is_server_ready() and all(client.is_model_ready(n) for n in names):
                    return self
            except Exception:  # not listening yet
                pass
            time.sleep(0.3)
        self.kill()
        raise AssertionError(f"serve not ready after {START_TIMEOUT_S} s:\n{self.log.read_text()[-3000:]}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (drain, then exit); SIGKILL to the whole group if it does not exit in time."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """The server machine dies: SIGKILL to serve, tritonserver and the backend stubs at once."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(30)


@pytest.fixture(scope="module")
def served(trained: Callable, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict]]:
    """PatchCore and DFM (the session's trained fixtures) on one server."""
    serve_python()
    runs = {"pc": trained("patchcore"), "dfm": trained("dfm")}
    log = tmp_path_factory.mktemp("triton") / "serve.log"
    server = Server([f"{name}={run.onnx}" for name, run in runs.items()], log).start()
    try:
        yield server, runs
    finally:
        assert server.stop() == 0, log.read_text()[-3000:]


@pytest.mark.parametrize(("name", "scheme"), [("pc", "triton"), ("dfm", "triton+http")])
def test_served_results_equal_the_local_runtime(
    served: tuple[Server, dict], name: str, scheme: str, tmp_path: Path
) -> None:
    """`predict --json` through the server (gRPC for PatchCore, HTTP for DFM) against the local file."""
    server, runs = served
    run = runs[name]
    url = server.url(name).replace("triton://", f"{scheme}://")
    if scheme == "triton+http":
        url = url.replace(f":{server.grpc}/", f":{server.http}/")
    images = run.data / "test"
    for model, out in ((url, "remote.jsonl"), (str(run.onnx), "local.jsonl")):
        assert (
            runtime_main(["predict", model, "--source", str(images), "--json", str(tmp_path / out), "--batch", "4"])
            == 0
        )
    remote, local = ([json.loads(line) for line in (tmp_path / f).open()] for f in ("remote.jsonl", "local.jsonl"))
    assert len(remote) == len(local) == len(sorted(images.rglob("*.png"))) == 16
    for r, lo in zip(remote, local, strict=True):
        assert r.keys() == lo.keys() and r["path"] == lo["path"]
        assert abs(r["score"] - lo["score"]) <= SCORE_TOLERANCE, (r, lo)
        assert r["is_anomalous"] == lo["is_anomalous"] and r["threshold"] == lo["threshold"]
        assert abs(r["raw_score"] - lo["raw_score"]) <= SCORE_TOLERANCE * max(1.0, abs(lo["raw_score"]))
    # anomaly maps too, at the frame's own resolution
    frames = [read_image(p) for p in sorted(images.rglob("*.png"))[::4]]
    with Detector(url) as remote_detector, Detector(run.onnx) as local_detector:
        for a, b in zip(remote_detector.predict_batch(frames), local_detector.predict_batch(frames), strict=True):
            assert np.abs(a.anomaly_map - b.anomaly_map).max() <= SCORE_TOLERANCE


def test_bench_and_evaluate_take_a_served_model(served: tuple[Server, dict], tmp_path: Path) -> None:
    server, runs = served
    run = runs["pc"]
    report = tmp_path / "bench.json"
    argv = ["bench", server.url("pc"), "--batch", "1", "2", "--iters", "3", "--warmup", "1", "--no-memory"]
    assert runtime_main([*argv, "--json", str(report)]) == 0
    assert {r["backend"] for r in json.loads(report.read_text())["targets"]} == {"triton"}
    metrics = {}
    for model, out in ((server.url("pc"), "remote.json"), (str(run.onnx), "local.json")):
        assert edgead_main(["evaluate", model, "--data", str(run.data), "--json", str(tmp_path / out)]) == 0
        metrics[out] = json.loads((tmp_path / out).read_text())["metrics"]
    assert metrics["remote.json"] == pytest.approx(metrics["local.json"], abs=1e-6)


def test_server_serves_metadata_health_and_metrics(served: tuple[Server, dict]) -> None:
    server, runs = served
    client = grpc.InferenceServerClient(f"127.0.0.1:{server.grpc}")
    config = client.get_model_config("pc", as_json=True)["config"]
    with Detector(runs["pc"].onnx) as local:
        assert served_metadata(config, "pc").to_json() == local.metadata.to_json()
    assert int(config["max_batch_size"]) == 8 and "dynamic_batching" in config
    assert json.loads(config["parameters"]["edgead_backend"]["string_value"])["backend"] == "onnxruntime"
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http}/v2/health/ready", timeout=10) as reply:
        assert reply.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics}/metrics", timeout=10) as reply:
        assert 'nv_inference_request_success{model="pc"' in reply.read().decode()


def test_clear_errors(served: tuple[Server, dict], capsys: pytest.CaptureFixture[str]) -> None:
    server, _ = served
    (dead,) = free_ports(1)
    with pytest.raises(BackendError, match=f"no Triton server answers grpc at 127.0.0.1:{dead}"):
        Detector(f"triton://127.0.0.1:{dead}/pc")
    with pytest.raises(BackendError, match="model 'nope' is not ready"):
        Detector(server.url("nope"))
    image = next((served[1]["pc"].data / "test").rglob("*.png"))
    assert runtime_main(["predict", server.url("nope"), "--source", str(image)]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0  # one line, no traceback
    # a model that is not an edgead graph: the served config with its metadata, input type or outputs changed
    config = grpc.InferenceServerClient(f"127.0.0.1:{server.grpc}").get_model_config("pc", as_json=True)["config"]
    for broken, message in (
        ({**config, "parameters": {}}, "not an edgead model"),
        ({**config, "input": [{**config["input"][0], "data_type": "TYPE_FP32"}]}, "TYPE_UINT8"),
        ({**config, "output": config["output"][:1]}, "an edgead graph has"),
    ):
        with pytest.raises(ModelFileError, match=message):
            served_metadata(broken, "triton://x/pc")


def test_sigterm_drains_in_flight_requests(trained: Callable, tmp_path: Path) -> None:
    """Requests already sent when SIGTERM arrives all get their results; then the server exits 0."""
    run = trained("patchcore")
    server = Server([f"pc={run.onnx}"], tmp_path / "serve.log").start()
    try:
        frames = np.stack([np.full((128, 128, 3), i * 30, np.uint8) for i in range(8)])  # serve's max batch

        def request(_: int) -> np.ndarray:
            client = grpc.InferenceServerClient(f"127.0.0.1:{server.grpc}")
            inp = grpc.InferInput("image", list(frames.shape), "UINT8")
            inp.set_data_from_numpy(frames)
            return client.infer("pc", [inp]).as_numpy("score")

        request(0)  # warm
        start = time.monotonic()
        request(0)
        # enough requests for ~3 s of server work, whatever this machine's speed: a fixed count all finished
        # before the signal on a quick, idle CI machine
        count = min(128, max(6, int(3.0 / (time.monotonic() - start)) + 1))
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(request, i) for i in range(count)]
            time.sleep(0.3)  # all sent (loopback gRPC), most still queued behind the first
            server.process.send_signal(signal.SIGTERM)
            unfinished = sum(not f.done() for f in futures)
            scores = [f.result(timeout=120) for f in futures]
        assert unfinished > 0, "every request had finished before SIGTERM: nothing was in flight"
        assert all(s.shape == (8, 1) for s in scores)
        assert all(np.array_equal(s, scores[0]) for s in scores)
        assert server.process.wait(60) == 0
        assert "stopped" in (tmp_path / "serve.log").read_text()
    finally:
        server.kill()


@pytest.mark.slow
def test_run_waits_out_a_killed_server(trained: Callable, tmp_path: Path) -> None:
    """`run` on a served model: the server dies mid-run and comes back; every frame gets its event, in order."""
    run = trained("patchcore")
    server = Server([f"pc={run.onnx}"], tmp_path / "serve.log").start()
    events, frames = tmp_path / "events.jsonl", 200
    command = [sys.executable, "-c", "import sys; from edgead_runtime.cli import main; sys.exit(main())", "run"]
    command += [server.url("pc"), "--source", str(run.data / "test"), "--loop", "--max-frames", str(frames)]
    command += ["--events", str(events), "--status-every", "0"]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while (not events.exists() or len(events.read_text().splitlines()) < 10) and time.monotonic() < deadline:
            time.sleep(0.1)
        server.kill()
        before = len(events.read_text().splitlines())
        time.sleep(3)
        server = Server(server.models, server.log, [server.http, server.grpc, server.metrics]).start()
        output, _ = client.communicate(timeout=300)
    finally:
        client.kill()
        server.stop()
    assert client.returncode == 0, output
    assert 10 <= before < frames, f"the server died after {before} of {frames} events: not mid-run"
    assert "unreachable" in output and "is back after" in output, output
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(frames))  # none lost, none twice, in order
    by_image: dict[str, set[float]] = {}
    for r in records:
        by_image.setdefault(r["source"], set()).add(round(r["score"], 5))
    assert all(len(scores) == 1 for scores in by_image.values())  # same image, same score, before and after
