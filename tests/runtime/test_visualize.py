import numpy as np

from edgead_runtime.visualize import overlay


def test_overlay_is_bgr8_at_frame_size_with_a_banner() -> None:
    frame = np.full((90, 120), 128, np.uint8)  # grey frame, map at another resolution
    amap = np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40)
    plain = overlay(frame, amap)
    assert plain.shape == (90, 120, 3) and plain.dtype == np.uint8
    assert plain[-1, -1, 2] > plain[0, 0, 2]  # JET: high values red, low values blue
    ng = overlay(frame, amap, score=0.9, is_anomalous=True)
    ok = overlay(frame, amap, score=0.1, is_anomalous=False)
    assert tuple(ng[2, 2]) == (0, 0, 255) and tuple(ok[2, 2]) == (0, 160, 0)
    assert np.array_equal(ng[60:], plain[60:])  # the banner only covers the top
