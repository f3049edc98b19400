"""Detections with ages for a batch of video frames, and the stage clock of a video run.

The sequential path (batch 1, exact CPU preprocessing) is what `MiVOLO.predict` does for one
frame at a time. The optimised path runs the detector once over `batch` frames and MiVOLO once
over every person of those frames, with the crops built on the device (mivolo.model.device_preprocessing).
Tracking, aggregation and the exports then take the frames one by one in order (mivolo.jobs.video_job),
so both paths feed them the same detections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch

from mivolo.core.record import People
from mivolo.core.timing import StageClock
from mivolo.model.predictor import Predictor

GPU_MIVOLO_BATCH = 128
CPU_MIVOLO_BATCH = 8
STAGES = ("decode", "detect", "track", "crop_preprocess", "mivolo", "aggregate", "draw", "encode")


@dataclass(frozen=True)
class PipelineSettings:
    """How frames go through the networks (see the module doc); the defaults are the sequential path."""

    batch: int = 1  # analysed frames per detector call and per MiVOLO batch
    max_mivolo_batch: Optional[int] = None  # at most this many people per MiVOLO forward pass (None: all)
    device_preprocessing: bool = False  # crops on the model's device instead of OpenCV on the CPU
    threaded_writer: bool = False  # draw and encode the output video in a background thread
    channels_last: bool = False
    compile: bool = False  # torch.compile the MiVOLO network

    @classmethod
    def optimised(cls, device: torch.device, batch: int, exact_preprocessing: Optional[bool] = None, compile: bool = False):
        """The fast settings for `device`: device crops on a GPU (exact OpenCV crops on the CPU,
        where they are as fast), channels_last on a GPU. MiVOLO's passes are capped at
        GPU_MIVOLO_BATCH / CPU_MIVOLO_BATCH people: each crop's fusion attention holds a
        (H/8 * W/8)^2 matrix (2,304^2 at 384), so a whole frame batch of a crowd would take
        gigabytes, and on the CPU larger passes are slower per crop, not faster."""
        on_gpu = device.type == "cuda"
        exact = (not on_gpu) if exact_preprocessing is None else exact_preprocessing
        return cls(
            batch=batch,
            max_mivolo_batch=GPU_MIVOLO_BATCH if on_gpu else CPU_MIVOLO_BATCH,
            device_preprocessing=not exact,
            threaded_writer=True,
            channels_last=on_gpu,
            compile=compile,
        )


def tune_for_speed(predictor: Predictor, settings: PipelineSettings) -> None:
    """channels_last and torch.compile on the MiVOLO network, where asked (PyTorch backend only)."""
    model = getattr(predictor.age_gender_model, "model", None)
    if model is None:
        return
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if settings.compile:
        model = torch.compile(model, dynamic=True)
    predictor.age_gender_model.model = model


class FrameBatchAnalyser:
    """`analyse(images)` -> each image's People, faces associated, ages filled in."""

    def __init__(self, predictor: Predictor, settings: PipelineSettings, clock: StageClock):
        self.detector = predictor.detector
        self.mivolo = predictor.age_gender_model
        self.settings = settings
        self.clock = clock
        self.device_preprocessor = None
        if settings.device_preprocessing:
            from mivolo.model.device_preprocessing import DevicePreprocessor

            self.device_preprocessor = DevicePreprocessor(self.mivolo)

    def _detect(self, images: List[np.ndarray]) -> List[People]:
        with self.clock("detect"):
            return self.detector.detect_people(images)

    def _infer(self, model_input: torch.Tensor) -> torch.Tensor:
        """MiVOLO over the rows, in passes of at most `max_mivolo_batch`; the output on the CPU."""
        size = self.settings.max_mivolo_batch
        outputs = []
        for chunk in [model_input] if size is None else torch.split(model_input, size):
            if self.settings.channels_last:
                chunk = chunk.contiguous(memory_format=torch.channels_last)
            outputs.append(self.mivolo.inference(chunk).float().cpu())  # one transfer per pass
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0]

    def analyse(self, images: List[np.ndarray]) -> List[People]:
        """Each frame's people with MiVOLO's estimates: one detector call and one MiVOLO batch."""
        people = self._detect(images)
        inputs, rows_per_frame = [], []
        with self.clock("crop_preprocess"):
            for image, frame_people in zip(images, people):
                preparer = self.device_preprocessor or self.mivolo
                model_input, rows = preparer.prepare(image, frame_people)
                rows_per_frame.append(rows)
                if model_input is not None:
                    inputs.append(model_input)
        if not inputs:
            return people
        with self.clock("mivolo"):
            output = self._infer(torch.cat(inputs) if len(inputs) > 1 else inputs[0])
            filled, start = [], 0
            for frame_people, rows in zip(people, rows_per_frame):
                if rows:
                    frame_people = self.mivolo.fill(output[start : start + len(rows)], frame_people, rows)
                    start += len(rows)
                filled.append(frame_people)
        return filled
