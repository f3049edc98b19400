"""Device preprocessing (mivolo.model.device_preprocessing) against the exact OpenCV path of the spec.

Both run here on the CPU device (the tensor code is the same on a GPU). The bound: every model
input value within one grey level (1 / (255 * std)) of the exact path, every age within
AGE_BOUND_YEARS and every gender score within SCORE_BOUND, on a random-weight MiVOLO whose heads
are scaled up so that its outputs really move with the input (ages spread over tens of years).
"""

import numpy as np
import pytest
import torch
from timm.data import IMAGENET_DEFAULT_STD

from mivolo.model.device_preprocessing import DevicePreprocessor, letterbox_placement
from mivolo.model.checkpoint import save_legacy_checkpoint
from mivolo.model.mi_volo import MiVOLO
from mivolo.model.preprocessing import class_letterbox
from mivolo.core.record import people_from_detections
from mivolo.devtools.synthetic import random_mivolo

AGE_BOUND_YEARS = 0.25  # measured: at most 0.12
SCORE_BOUND = 0.002  # measured: at most 1e-4
ONE_LEVEL = 1 / (255 * min(IMAGENET_DEFAULT_STD))

# (box, label): face+body pairs, lone faces, a lone body, a body too small to use (6), two bodies
# covering each other (both blacked out by the masking: 7 alone is dropped, 8 keeps its face 9),
# a face over the frame's edge
SCENE = [
    ([60, 40, 260, 470], "person"),
    ([120, 60, 200, 160], "face"),
    ([200, 30, 380, 475], "person"),
    ([250, 50, 330, 160], "face"),
    ([580, 400, 630, 440], "face"),
    ([560, 10, 700, 300], "person"),
    ([10, 10, 40, 40], "person"),
    ([420, 100, 520, 460], "person"),
    ([425, 105, 515, 455], "person"),
    ([440, 110, 480, 150], "face"),
    ([-20, 380, 90, 500], "face"),
]


@pytest.fixture(scope="module")
def sensitive_mivolo(tmp_path_factory):
    model, meta = random_mivolo(224, seed=4)
    with torch.no_grad():
        for head in (model.head, model.aux_head):
            head.weight[:2].mul_(3)  # gender logits: scores spread over ~0.8..0.85
            head.weight[2].mul_(8)  # age: ~5 to ~65 years over the scene's people
    path = save_legacy_checkpoint(tmp_path_factory.mktemp("mivolo") / "sensitive.pth.tar", model, meta, epoch=1, arch="mivolo_d1_224")
    return MiVOLO(str(path), device="cpu", half=False)


def scene_image(seed: int) -> np.ndarray:
    """Textured 640x480 frame: noise over a gradient, so resizing has real detail to get wrong."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 180, 640)[None, :, None] + np.linspace(0, 60, 480)[:, None, None]
    return np.clip(rng.normal(0, 40, (480, 640, 3)) + gradient, 0, 255).astype(np.uint8)


def detections(image):
    boxes, labels = zip(*SCENE)
    return people_from_detections(np.array(boxes, np.float32), list(labels), [0.9] * len(boxes))


@pytest.mark.parametrize("seed", [0, 1])
def test_device_preprocessing_matches_the_exact_path_within_the_bound(sensitive_mivolo, seed):
    image = scene_image(seed)
    exact_input, exact_rows = sensitive_mivolo.prepare(image, detections(image))
    device_input, device_rows = DevicePreprocessor(sensitive_mivolo).prepare(image, detections(image))
    assert device_rows == exact_rows
    people = detections(image)
    bodies = {int(people.body_index[row.person]) if row.body else None for row in exact_rows}
    assert bodies == {0, 2, 8, 5, None} and len(exact_rows) == 6
    assert device_input.shape == exact_input.shape
    assert (device_input - exact_input).abs().max().item() <= ONE_LEVEL * 1.01
    exact = zip(*sensitive_mivolo.decode(sensitive_mivolo.inference(exact_input)))
    device = zip(*sensitive_mivolo.decode(sensitive_mivolo.inference(device_input)))
    exact = list(exact)
    ages = np.array([age for age, _, _ in exact])
    assert ages.max() - ages.min() > 5  # the outputs do depend on the crops
    for (age_e, gender_e, score_e), (age_d, gender_d, score_d) in zip(exact, device):
        assert abs(age_e - age_d) <= AGE_BOUND_YEARS
        assert abs(score_e - score_d) <= SCORE_BOUND
        assert gender_e == gender_d or min(score_e, score_d) < 0.5 + SCORE_BOUND


@pytest.mark.parametrize("height, width", [(100, 40), (40, 100), (224, 224), (300, 301), (7, 500), (223, 224)])
def test_letterbox_placement_is_class_letterbox(height, width):
    placed = class_letterbox(np.full((height, width, 3), 255, np.uint8), 224)
    rows, cols = np.nonzero(placed[:, :, 0])
    new_h, new_w, top, left = letterbox_placement(height, width, 224)
    assert (top, left, new_h, new_w) == (rows.min(), cols.min(), rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
