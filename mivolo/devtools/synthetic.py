"""Random-weight models in the exact public file formats, and generated media.

No weights or videos can be shipped with the project, so tests, benchmarks and demos build
them here: a MiVOLO checkpoint (legacy `.pth.tar` or Hugging Face safetensors), an ultralytics
YOLOv8 person/face detector saved as ultralytics saves it, and videos of moving figures.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np
import torch

from mivolo.io.safe_output import atomic_path
from mivolo.model.checkpoint import CheckpointMeta, save_hf_checkpoint, save_legacy_checkpoint
from mivolo.model.mivolo_model import MiVOLOModel, create_mivolo

DEFAULT_META = dict(min_age=1.0, max_age=95.0, avg_age=48.0)


def random_mivolo(
    input_size: int = 224,
    with_persons: bool = True,
    no_gender: bool = False,
    seed: int = 0,
    spread: Optional[float] = None,
    centre_on: Optional[torch.Tensor] = None,
    **age_scale,
) -> Tuple[MiVOLOModel, CheckpointMeta]:
    """A MiVOLO network with random weights (BN statistics randomised too) and its meta.

    By default the heads are small, so every input gets nearly the same age. `spread` (e.g. 0.2)
    is the heads' weight scale instead, and `centre_on` a batch of the inputs the model will
    see: the head's bias then centres its outputs on them, so that ages differ by years between
    those inputs around the average age and genders are split."""
    torch.manual_seed(seed)
    meta = CheckpointMeta(
        **{**DEFAULT_META, **age_scale},
        no_gender=no_gender,
        with_persons_model=with_persons,
        input_size=input_size,
    )
    model = create_mivolo(input_size, meta.in_chans, meta.num_classes)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        # small heads keep ages in a plausible range while still varying between inputs
        for head in (model.head, model.aux_head):
            head.weight.normal_(0, 0.01 if spread is None else spread)
            head.bias.zero_()
        if centre_on is not None:
            # one thread, so that the bias (and so the checkpoint) is the same bit for bit whatever
            # thread count the process was left at: float sums depend on how the work is split
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                model.head.bias -= model.eval()(centre_on).mean(0)
            finally:
                torch.set_num_threads(threads)
    return model.eval(), meta


def write_mivolo_checkpoint(path, file_format: str = "legacy", **model_kwargs) -> Path:
    """Save a random MiVOLO as a legacy `.pth.tar` or as a HF folder (model.safetensors + config.json)."""
    model, meta = random_mivolo(**model_kwargs)
    if file_format == "legacy":
        return save_legacy_checkpoint(path, model, meta, epoch=1, arch=f"mivolo_d1_{meta.input_size}")
    if file_format == "safetensors":
        return save_hf_checkpoint(path, model, meta)
    raise ValueError(f"unknown checkpoint format {file_format!r}")


def write_detector(
    path,
    scale: str = "n",
    conf_logit: float = 3.0,
    person_extent: int = 15,
    face_extent: int = 15,
    seed: int = 0,
) -> Path:
    """A YOLOv8<scale> with classes person and face, saved like an ultralytics training checkpoint.

    The head is rigged so that detections do not depend on the picture: every stride-32 cell
    proposes a person and every stride-16 cell a face, each side `*_extent` strides from the
    cell centre, with confidence sigmoid(conf_logit). NMS thins them to a few overlapping boxes
    (2 persons and 6 faces at detector size 160 on a 4:3 image), so the whole detect ->
    associate -> crop -> MiVOLO path runs on real detector output.
    """
    import ultralytics
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel(f"yolov8{scale}.yaml", nc=2, verbose=False)
    model.names = {0: "person", 1: "face"}
    head = model.model[-1]
    # (person logit, face logit, box extent) per pyramid level, finest first
    levels = [(-20.0, -20.0, 1), (-20.0, conf_logit, face_extent), (conf_logit, -20.0, person_extent)]
    with torch.no_grad():
        for (person_logit, face_logit, extent), box_branch, cls_branch in zip(levels, head.cv2, head.cv3):
            box_branch[-1].weight.zero_()
            cls_branch[-1].weight.zero_()
            cls_branch[-1].bias.copy_(torch.tensor([person_logit, face_logit]))
            # DFL: 4 sides x reg_max bins; a spike at bin k makes that side k strides long
            bins = torch.full((4, head.reg_max), -10.0)
            bins[:, extent] = 10.0
            box_branch[-1].bias.copy_(bins.flatten())
    checkpoint = {
        "date": datetime.now().isoformat(),
        "version": ultralytics.__version__,
        "epoch": -1,
        "model": model.half(),
        "ema": None,
        "updates": None,
        "optimizer": None,
        "train_args": {"task": "detect", "imgsz": 640},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return path


FIGURE_COLOURS = ((40, 40, 220), (220, 60, 40), (40, 200, 60), (200, 40, 200), (30, 200, 220), (220, 200, 40))
VIDEO_FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".mkv": "MJPG", ".mov": "mp4v"}


def figure_frame(index: int, size: Tuple[int, int] = (320, 240), figures: int = 2) -> np.ndarray:
    """Frame `index` of a scene where `figures` people-like shapes (a body block with a round head,
    each in its own colour) walk across a grey floor, alternately left-to-right and right-to-left."""
    width, height = size
    frame = np.full((height, width, 3), 90, np.uint8)
    body_w, body_h = max(8, width // 8), max(16, height // 2)
    for figure in range(figures):
        direction = 1 if figure % 2 == 0 else -1
        travel = width - body_w
        offset = (index * 4 + figure * travel // max(1, figures)) % (2 * travel)
        x = offset if offset <= travel else 2 * travel - offset  # bounce at the edges
        x = x if direction == 1 else travel - x
        y = height // 3 + (figure * height // 12) % (height // 4)
        colour = FIGURE_COLOURS[figure % len(FIGURE_COLOURS)]
        cv2.rectangle(frame, (x, y), (x + body_w, min(height - 1, y + body_h)), colour, -1)
        cv2.circle(frame, (x + body_w // 2, y - body_w // 2), body_w // 2, (150, 180, 230), -1)
    return frame


def write_figure_video(
    path, frames: int = 30, size: Tuple[int, int] = (320, 240), fps: float = 10.0, figures: int = 2
) -> Path:
    """A video of moving coloured figures (see `figure_frame`); the codec follows the suffix."""
    path = Path(path)
    fourcc = VIDEO_FOURCC.get(path.suffix.lower(), "MJPG")
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not writer.isOpened():
            raise RuntimeError(f"{path}: OpenCV cannot write {fourcc} video here")
        try:
            for index in range(frames):
                writer.write(figure_frame(index, size, figures))
        finally:
            writer.release()
    return path
