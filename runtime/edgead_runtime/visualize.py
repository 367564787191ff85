"""Anomaly maps as pictures people can look at: a JET heat map over the frame and an OK/NG banner."""

from __future__ import annotations

import numpy as np

from .opencv import cv2
from .preprocess import to_bgr8

_RED = (0, 0, 255)
_GREEN = (0, 160, 0)


def overlay(
    frame_bgr: np.ndarray,
    anomaly_map: np.ndarray,
    score: float | None = None,
    is_anomalous: bool | None = None,
    alpha: float = 0.45,
) -> np.ndarray:
    """Blend the normalized map (values in [0, 1]) onto the frame; uint8 BGR at the frame's size."""
    frame = to_bgr8(frame_bgr)
    height, width = frame.shape[:2]
    amap = np.asarray(anomaly_map, dtype=np.float32)
    if amap.shape != (height, width):
        amap = cv2.resize(amap, (width, height), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap((np.clip(amap, 0.0, 1.0) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    out = cv2.addWeighted(frame, 1.0 - alpha, heat, alpha, 0.0)
    if score is None and is_anomalous is None:
        return out
    label = "" if is_anomalous is None else ("NG" if is_anomalous else "OK")
    text = f"{label} {score:.3f}".strip() if score is not None else label
    scale = max(0.4, width / 640)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    colour = (64, 64, 64) if is_anomalous is None else (_RED if is_anomalous else _GREEN)
    cv2.rectangle(out, (0, 0), (tw + 12, th + base + 12), colour, thickness=-1)
    cv2.putText(out, text, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
