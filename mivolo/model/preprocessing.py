"""Crops, person masking, letterbox and normalisation (shared spec, section 4).

Everything here reproduces the published inference preprocessing bit for bit on OpenCV BGR
images, so that the same weights and boxes give the same ages and gender scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from mivolo.core.geometry import box_iou, clamp_boxes
from mivolo.core.record import PERSON_LABEL


@dataclass(frozen=True)
class PersonCropRule:
    """How a body crop is cleaned of other people before it is shown to MiVOLO."""

    min_person_size: int = 50  # a body crop with a side under this is unusable
    mask_iou_thresh: float = 1e-6  # other boxes overlapping at least this much are blacked out
    snap_ratio: Optional[float] = 0.3  # other-person edges this close to the crop border snap to it
    min_remaining_ratio: Optional[float] = 0.4  # fewer non-zero values than this after masking: unusable
    clamp_to_image_edge: bool = False  # clamp x to [0, W] (evaluation path) instead of [0, W-1] (inference)


INFERENCE_PERSON_RULE = PersonCropRule()


def crop(image: np.ndarray, box) -> np.ndarray:
    """image[y1:y2, x1:x2] of an int box clamped to the image (a copy)."""
    x1, y1, x2, y2 = clamp_boxes(box, *image.shape[:2])[0]
    return image[y1:y2, x1:x2].copy()


def crop_face(image: np.ndarray, box) -> Optional[np.ndarray]:
    """Face crops are used as they are; an empty one (zero width or height) is unusable."""
    face = crop(image, box)
    return face if face.size else None


def crop_person(
    image: np.ndarray,
    index: int,
    boxes: np.ndarray,
    labels: Sequence[str],
    rule: PersonCropRule = INFERENCE_PERSON_RULE,
) -> Optional[np.ndarray]:
    """Body crop of `boxes[index]` with every other overlapping face and person blacked out.

    `boxes` are all the frame's int boxes (unclamped), `labels` their classes. As in the published model's training,
    the person's own face is masked too (a quirk the weights expect).
    """
    height, width = image.shape[:2]
    edge = 1 if rule.clamp_to_image_edge else 0
    clamped = clamp_boxes(boxes, height + edge, width + edge)
    x1, y1, x2, y2 = (int(v) for v in clamped[index])
    body = image[y1:y2, x1:x2].copy()
    crop_h, crop_w = body.shape[:2]
    if crop_h < rule.min_person_size or crop_w < rule.min_person_size:
        return None

    overlaps = box_iou(clamped[index : index + 1], clamped)[0]
    for other, iou in enumerate(overlaps):
        if other == index or not iou >= rule.mask_iou_thresh:
            continue
        o_x1, o_y1, o_x2, o_y2 = (int(v) for v in boxes[other])
        o_x1, o_y1 = max(o_x1 - x1, 0), max(o_y1 - y1, 0)
        o_x2, o_y2 = min(o_x2 - x1, crop_w), min(o_y2 - y1, crop_h)
        if rule.snap_ratio is not None and labels[other] == PERSON_LABEL:
            if o_y1 / crop_h < rule.snap_ratio:
                o_y1 = 0
            if (crop_h - o_y2) / crop_h < rule.snap_ratio:
                o_y2 = crop_h
            if o_x1 / crop_w < rule.snap_ratio:
                o_x1 = 0
            if (crop_w - o_x2) / crop_w < rule.snap_ratio:
                o_x2 = crop_w
        body[o_y1:o_y2, o_x1:o_x2] = 0

    if rule.min_remaining_ratio is not None:
        if np.count_nonzero(body) / body.size < rule.min_remaining_ratio:
            return None
    return body


def class_letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """Resize keeping aspect ratio (up or down) and pad with black to size x size."""
    height, width = image.shape[:2]
    if height == size and width == size:
        return image
    ratio = min(size / height, size / width)
    new_w, new_h = int(round(width * ratio)), int(round(height * ratio))
    pad_w, pad_h = (size - new_w) / 2, (size - new_h) / 2
    if (width, height) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(pad_h - 0.1)), int(round(pad_h + 0.1))
    left, right = int(round(pad_w - 0.1)), int(round(pad_w + 0.1))
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def normalize_crop(
    crop_bgr: np.ndarray, size: int, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD
) -> np.ndarray:
    """BGR crop -> letterboxed, RGB, ImageNet-normalised float32 CHW."""
    image = class_letterbox(crop_bgr, size)[:, :, ::-1] / 255.0
    image = (image - np.asarray(mean)) / np.asarray(std)  # float64 as published, then float32
    return np.ascontiguousarray(image.astype(np.float32).transpose(2, 0, 1))


def blank_input(size: int, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD) -> torch.Tensor:
    """A missing crop: the normalised black image, i.e. -mean/std per channel (float32 arithmetic)."""
    zeros = torch.zeros((3, size, size), dtype=torch.float32)
    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (zeros - mean_t) / std_t


def prepare_classification_images(
    crops: Sequence[Optional[np.ndarray]],
    target_size: int = 224,
    mean=IMAGENET_DEFAULT_MEAN,
    std=IMAGENET_DEFAULT_STD,
    device=None,
) -> Optional[torch.Tensor]:
    """A batch (N x 3 x S x S) from BGR crops; None entries become the blank input."""
    if len(crops) == 0:
        return None
    blank = None
    tensors = []
    for crop_bgr in crops:
        if crop_bgr is None:
            blank = blank_input(target_size, mean, std) if blank is None else blank
            tensors.append(blank)
        else:
            tensors.append(torch.from_numpy(normalize_crop(crop_bgr, target_size, mean, std)))
    batch = torch.stack(tensors)
    return batch.to(device) if device is not None else batch
