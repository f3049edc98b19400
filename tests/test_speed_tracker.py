"""Tracker cost: GMC on a downscaled grayscale frame still measures the full-resolution camera
motion; the fixed-camera preset turns GMC off."""

import cv2
import numpy as np
import pytest

from mivolo.core.errors import MiVOLOError
from mivolo.tracking.tracker import GMC_MAX_WIDTH, DownscaledGMC, create_tracker, load_tracker_config


def textured_canvas(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (1200, 2100, 3), dtype=np.uint8), (9, 9), 0)


@pytest.mark.parametrize("method", ["sparseOptFlow", "orb"])
def test_downscaled_gmc_finds_the_full_resolution_shift(method):
    canvas = textured_canvas()
    gmc = DownscaledGMC(method)
    gmc.apply(canvas[50:1130, 50:1970])  # 1920 x 1080
    # the camera moves 12 px left and 8 px down: content moves +12 in x, -8 in y
    warp = gmc.apply(canvas[58:1138, 38:1958])
    assert warp.shape == (2, 3)
    np.testing.assert_allclose(warp[:, :2], np.eye(2), atol=0.01)
    np.testing.assert_allclose(warp[:, 2], [12, -8], atol=1.0)
    assert GMC_MAX_WIDTH < 1920  # the frame really was downscaled


def test_fixed_camera_preset_has_no_gmc():
    config = load_tracker_config("botsort_static.yaml")
    default = load_tracker_config("botsort.yaml")
    assert config.gmc_method == "none" and default.gmc_method == "sparseOptFlow"
    assert create_tracker(config)._tracker.gmc.method is None
    assert create_tracker(default)._tracker.gmc.method == "sparseOptFlow"


def test_unknown_gmc_method_is_an_error(tmp_path):
    text = load_tracker_config("botsort.yaml").path.read_text().replace("gmc_method: sparseOptFlow", "gmc_method: optflow")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(MiVOLOError, match="gmc_method must be one of"):
        load_tracker_config(str(path))
