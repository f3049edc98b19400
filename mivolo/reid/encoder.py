"""Person crops -> L2-normalised appearance embeddings, batched, fp16 on a GPU when the run asks for it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from mivolo.core.runtime import TORCH, Runtime
from mivolo.core.errors import MiVOLOError
from mivolo.reid.architecture import ReIDArchitecture, parameter_count
from mivolo.reid.loading import LoadedNetwork, load_network

_logger = logging.getLogger("mivolo")

DEFAULT_BATCH_SIZE = 32


class ReIDEncoder:
    """A loaded Re-ID network. `embed(image_bgr, boxes_xyxy)` gives one unit-length row per box."""

    def __init__(
        self,
        loaded: LoadedNetwork,
        name: str,
        device=None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        runtime: Optional[Runtime] = None,
    ):
        self.name = name
        self.architecture: ReIDArchitecture = loaded.architecture
        self.dim = loaded.architecture.embedding_dim
        self.path = loaded.path
        self.num_parameters = parameter_count(loaded.network)
        runtime = Runtime.of(runtime, device)
        self.device = runtime.device
        self.half = runtime.fp16_for(TORCH)
        self.batch_size = batch_size
        network = loaded.network.to(self.device)
        self.network = network.half() if self.half else network
        # crops stay uint8 until they reach the device; normalisation happens there, on 0-255 values
        self._mean = torch.tensor(self.architecture.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.architecture.std, device=self.device).view(1, 3, 1, 1) * 255

    @property
    def input_size(self):
        return self.architecture.input_size

    def crops(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """N x H x W x 3 RGB uint8 crops at the network's size; boxes are clipped to the image."""
        if not isinstance(image_bgr, np.ndarray) or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise MiVOLOError("Re-ID needs a colour image (H x W x 3, BGR)")
        height, width = self.input_size
        image_h, image_w = image_bgr.shape[:2]
        crops = np.empty((len(boxes_xyxy), height, width, 3), dtype=np.uint8)
        for index, (x1, y1, x2, y2) in enumerate(boxes_xyxy):
            # at least one pixel, so that a box touching or leaving the frame still has an embedding
            left = int(np.clip(np.floor(x1), 0, image_w - 1))
            top = int(np.clip(np.floor(y1), 0, image_h - 1))
            right = int(np.clip(np.ceil(x2), left + 1, image_w))
            bottom = int(np.clip(np.ceil(y2), top + 1, image_h))
            crop = cv2.resize(image_bgr[top:bottom, left:right], (width, height), interpolation=cv2.INTER_LINEAR)
            crops[index] = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        return crops

    @torch.inference_mode()
    def embed_crops(self, crops_rgb: np.ndarray) -> np.ndarray:
        embeddings = []
        for start in range(0, len(crops_rgb), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(crops_rgb[start : start + self.batch_size])).to(self.device)
            pixels = (batch.permute(0, 3, 1, 2).float() - self._mean) / self._std
            features = self.network(pixels.half() if self.half else pixels).float()
            embeddings.append(F.normalize(features, dim=1).cpu().numpy())
        return np.concatenate(embeddings) if embeddings else np.zeros((0, self.dim), dtype=np.float32)

    def embed(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """N x dim float32 embeddings of unit length, one per box (x1, y1, x2, y2 in pixels)."""
        boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_crops(self.crops(image_bgr, boxes))

    def describe(self) -> str:
        """The model in a few words; callers say that it is the Re-ID model ("Re-ID: ...")."""
        return (
            f"{self.name} ({self.architecture.family} {self.architecture.name}, "
            f"{self.dim}-d embeddings, {self.num_parameters / 1e6:.1f}M parameters) on {self.device}"
            + (" in fp16" if self.half else "")
        )


def load_reid_encoder(
    name_or_path,
    device=None,
    models_dir: Optional[Path] = None,
    architecture: Optional[str] = None,
    *,
    runtime: Optional[Runtime] = None,
) -> ReIDEncoder:
    """A catalog name (downloaded), an imported name, or a weight file path -> a ready encoder."""
    from mivolo.reid.store import resolve_model

    resolved = resolve_model(str(name_or_path), models_dir)
    loaded = load_network(resolved.path, architecture or resolved.architecture)
    encoder = ReIDEncoder(loaded, resolved.name, device, runtime=runtime)
    _logger.info("Re-ID model %s", encoder.describe())
    return encoder
