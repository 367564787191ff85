"""The bench report rendered as Markdown."""

from __future__ import annotations

from typing import Any

from ..system import engine_modules


def format_report(report: dict[str, Any]) -> str:
    """The report as Markdown: latency per batch with ratios, stages, memory, accuracy."""
    m, s = report["machine"], report["settings"]
    engines = ", ".join(f"{k} {m[k]}" for k in engine_modules() if m.get(k))
    gpus = "; ".join(f"{g['name']} (driver {g['driver']})" for g in m.get("gpus") or [])
    jetson = m.get("jetson")
    lines = [
        "# edgead-runtime bench",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores / {m['threads']} threads; {m['platform']}; python {m['python']}",
        f"- engines: {engines}" + (f"; GPU: {gpus}" if gpus else ""),
    ]
    if jetson:
        lines.append(f"- Jetson: {jetson['model']}, L4T {jetson['l4t']}, JetPack {jetson['jetpack']}, "
                     f"power mode {jetson['power_mode']}")  # fmt: skip
    frame = f"{s['source'] or 'synthetic'} ({s['frame_size'][0]}x{s['frame_size'][1]})"
    lines += [
        f"- run: {s['warmup']} warm-up + {s['iters']} timed calls per target and batch, "
        + ("interleaved in blocks of " + str(s["block"]) if s["interleaved"] else "one target")
        + f"; frame {frame}; {report['created_utc']}",
        "",
        "Latency per graph call. Ratios: p50 against the target's reference at the same batch (>1 = slower); the",
        "reference is the first target on the same model file when a file runs on several backends, else the first.",
        "",
        "| target | precision | batch | p50 ms | p90 ms | p99 ms | mean ± std ms | FPS | p50 vs ref |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in report["targets"]:
        for g in t["batches"]:
            lines.append(
                f"| {t['label']} | {_precision(t)} | {g['batch']} | {g['p50_ms']:.2f} | {g['p90_ms']:.2f} | "
                f"{g['p99_ms']:.2f} | {g['mean_ms']:.2f} ± {g['std_ms']:.2f} | {g['fps']:.1f} | "
                f"{_num(g['ratio_to_reference'])}x |"
            )
    lines += [
        "",
        "Stages per frame, p50 ms (graph: per frame at the smallest batch; pipeline FPS: the four back to back).",
        "",
        "| target | decode | preprocess | graph | postprocess | pipeline FPS | peak RSS MB (model + engine) "
        "| open ms | first call ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in report["targets"]:
        g = min(t["batches"], key=lambda g: g["batch"])
        post, startup = t["postprocess"], t.get("startup") or {}  # reports saved before startup was recorded
        lines.append(
            f"| {t['label']} | {report['decode']['p50_ms']:.2f} | {t['preprocess']['p50_ms']:.2f} | "
            f"{g['p50_ms'] / g['batch']:.2f} | {_num(post and post['p50_ms'])} | {_num(t['pipeline_fps'], 1)} | "
            f"{_memory(t['memory'])} | {_num(startup.get('open_ms'), 0)} | {_num(startup.get('first_call_ms'), 1)} |"
        )
    if s["accuracy_data"]:
        lines += [
            "",
            f"Accuracy on {s['accuracy_data']} (raw scores and maps at the model size; Δ: against the reference).",
            "",
            "| target | precision | images | image AUROC | pixel AUROC | Δ image | Δ pixel |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for t in report["targets"]:
            a = t.get("accuracy")
            if a is None:
                lines.append(f"| {t['label']} | {_precision(t)} | | n/a (not a full graph) | | | |")
                continue
            lines.append(
                f"| {t['label']} | {_precision(t)} | {a['images']} | {a['image_auroc']:.4f} | "
                f"{_num(a['pixel_auroc'], 4)} | {_signed(a['image_auroc_delta_to_reference'])} | "
                f"{_signed(a['pixel_auroc_delta_to_reference'])} |"
            )
    return "\n".join(lines) + "\n"


def _precision(target: dict[str, Any]) -> str:
    """The precision the engine reports (OpenVINO reads it back); ORT computes in the graph's own types."""
    engine = target["engine"].get("precision")
    return "as graph" if engine == "graph" else str(engine or target["precision"] or "default")


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _memory(memory: dict[str, Any] | None) -> str:
    if memory is None:
        return "not measured"
    if "error" in memory:
        return memory["error"]
    return f"{memory['peak_mb']:.0f} ({memory['model_mb']:+.0f})"
