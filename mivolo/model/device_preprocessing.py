"""MiVOLO's input batch built on the model's device: crop, person masking, letterbox, normalise.

The exact path (`MiVOLO.prepare`, shared spec section 4) crops and letterboxes every face
and body on the CPU with OpenCV, one crop at a time. Here the frame is uploaded once and every
step runs as tensor operations on the device. What stays on the CPU is box arithmetic only:
which rows exist (`compose_rows`), and each body's mask of other people, which is
`crop_person` itself applied to an all-ones frame, so the masking rule is the exact path's.

Differences from the exact path: bilinear resizing in float (OpenCV resizes uint8 with 11-bit
fixed-point weights; the result is rounded to whole levels here too) and float32 instead of
float64 normalisation. tests/test_gpu_preprocessing.py bounds the effect on ages and gender
scores.
"""

from __future__ import annotations

from dataclasses import replace
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch.nn import functional as F

from mivolo.core.geometry import clamp_boxes, to_int_boxes
from mivolo.core.record import People
from mivolo.model.mi_volo import BatchRow, MiVOLO, compose_rows, frame_boxes
from mivolo.model.preprocessing import INFERENCE_PERSON_RULE, crop_person

# the mask is computed on a frame of ones, so the 'enough left after masking' test, which needs
# the real pixels, is made on the device instead
_MASK_RULE = replace(INFERENCE_PERSON_RULE, min_remaining_ratio=None)


def letterbox_placement(height: int, width: int, size: int) -> Tuple[int, int, int, int]:
    """(new_h, new_w, top, left) of `class_letterbox`: aspect-preserving resize, centred padding."""
    if height == size and width == size:
        return size, size, 0, 0
    ratio = min(size / height, size / width)
    new_w, new_h = int(round(width * ratio)), int(round(height * ratio))
    top = int(round((size - new_h) / 2 - 0.1))
    left = int(round((size - new_w) / 2 - 0.1))
    return new_h, new_w, top, left


class DevicePreprocessor:
    """`prepare(image, people)` gives what `MiVOLO.prepare` gives, computed on the device."""

    def __init__(self, mivolo: MiVOLO):
        self.mivolo = mivolo
        self.device = mivolo.device
        self.size = mivolo.input_size
        config = mivolo.data_config
        # BGR uint8 levels -> normalised RGB in one multiply-add: (x / 255 - mean) / std
        mean = torch.tensor(config["mean"], dtype=torch.float32, device=self.device).flip(0).view(1, 3, 1, 1)
        std = torch.tensor(config["std"], dtype=torch.float32, device=self.device).flip(0).view(1, 3, 1, 1)
        self._scale = 1.0 / (255.0 * std)
        self._shift = -mean / std

    def _letterboxed(self, region: torch.Tensor) -> torch.Tensor:
        """H x W x 3 uint8/float levels -> 3 x S x S float levels (BGR), black padding."""
        height, width = region.shape[:2]
        new_h, new_w, top, left = letterbox_placement(height, width, self.size)
        pixels = region.permute(2, 0, 1).unsqueeze(0).float()
        if (new_h, new_w) != (height, width):
            pixels = F.interpolate(pixels, size=(new_h, new_w), mode="bilinear", align_corners=False)
            pixels = pixels.round_().clamp_(0, 255)  # OpenCV resizes uint8 to uint8
        canvas = pixels.new_zeros((3, self.size, self.size))
        canvas[:, top : top + new_h, left : left + new_w] = pixels[0]
        return canvas

    def _face(self, frame: torch.Tensor, box) -> Optional[torch.Tensor]:
        x1, y1, x2, y2 = clamp_boxes(box, *frame.shape[:2])[0]
        return None if x2 <= x1 or y2 <= y1 else self._letterboxed(frame[y1:y2, x1:x2])

    def _body(self, frame: torch.Tensor, index: int, boxes: np.ndarray, labels) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """(letterboxed masked body, its share of non-zero values) or (None, None) if too small."""
        height, width = frame.shape[:2]
        ones = np.broadcast_to(np.ones((1, 1, 1), np.uint8), (height, width, 1))
        mask = crop_person(ones, index, boxes, labels, _MASK_RULE)
        if mask is None:
            return None, None
        x1, y1, x2, y2 = (int(v) for v in clamp_boxes(boxes, height, width)[index])
        body = frame[y1:y2, x1:x2] * torch.from_numpy(mask).to(self.device, non_blocking=True)
        return self._letterboxed(body), torch.count_nonzero(body).float() / body.numel()

    def prepare(self, image: np.ndarray, people: People) -> Tuple[Optional[torch.Tensor], List[BatchRow]]:
        meta = self.mivolo.meta
        boxes, labels, body_position = frame_boxes(people)
        face_boxes = to_int_boxes(np.nan_to_num(people.face_xyxy))
        frame = torch.from_numpy(image).to(self.device, non_blocking=True)
        blank = frame.new_zeros((3, self.size, self.size), dtype=torch.float32)
        faces, bodies, shares, rows = [], [], [], []
        for row in compose_rows(people, meta.use_face_crops, meta.use_person_crops):
            face = self._face(frame, face_boxes[row.person]) if row.face else None
            body, share = self._body(frame, int(body_position[row.person]), boxes, labels) if row.body else (None, None)
            if face is None and body is None:
                continue
            faces.append(blank if face is None else face)
            bodies.append(blank if body is None else body)
            # a face-only row counts as usable; a body whose masking left too little is blanked
            shares.append(torch.ones((), device=self.device) if share is None else share)
            rows.append((row, face is not None))
        if not rows:
            return None, []
        body_usable = torch.stack(shares) >= INFERENCE_PERSON_RULE.min_remaining_ratio
        keep = [has_face or usable for (_, has_face), usable in zip(rows, body_usable.tolist())]  # the one sync
        kept = [index for index, flag in enumerate(keep) if flag]
        if not kept:
            return None, []
        selection = torch.tensor(kept, device=self.device)
        face_batch = torch.stack(faces).index_select(0, selection)
        model_input = self._normalised(face_batch)
        if meta.with_persons_model:
            body_batch = torch.stack(bodies) * body_usable.view(-1, 1, 1, 1)
            model_input = torch.cat((model_input, self._normalised(body_batch.index_select(0, selection))), dim=1)
        return model_input, [rows[index][0] for index in kept]

    def _normalised(self, levels_bgr: torch.Tensor) -> torch.Tensor:
        return (levels_bgr * self._scale + self._shift).flip(1)  # BGR -> RGB channel order
