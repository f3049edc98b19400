"""Detections with ages for a batch of video frames, and the stage clock of a video run.

The sequential path (batch 1, exact CPU preprocessing) is what `MiVOLO.predict` does for one
frame at a time. The optimised path runs the detector once over `batch` frames and MiVOLO once
over the people of those frames, with the crops built on the device (mivolo.model.device_preprocessing).
Tracking, aggregation and the exports take the frames one by one in order (mivolo.jobs.video_job),
so both paths feed them the same detections.

Which people MiVOLO estimates is the `EstimatePolicy` (like DeepStream's secondary-classifier
re-inference interval): `every-frame` estimates every detected person of every analysed frame,
as the original does; `interval` estimates a track in each of its first K frames, then once every
N frames it is seen; `adaptive` also re-estimates when the face is clearly larger or sharper
than any face that track was estimated from. A person not due adds no prediction that frame:
their track keeps its answer. The tracker needs only boxes, so frames are tracked first and
MiVOLO then runs once over the due people of the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

import cv2
import numpy as np
import torch

from mivolo.core.geometry import clamp_boxes
from mivolo.core.record import People
from mivolo.core.timing import StageClock
from mivolo.model.predictor import Predictor

GPU_MIVOLO_BATCH = 128
CPU_MIVOLO_BATCH = 8
STAGES = ("decode", "detect", "track", "crop_preprocess", "mivolo", "aggregate", "draw", "encode")

EVERY_FRAME, INTERVAL, ADAPTIVE = "every-frame", "interval", "adaptive"
ESTIMATE_POLICIES = (EVERY_FRAME, INTERVAL, ADAPTIVE)
# MiVOLO's columns of People, copied from the detections onto the tracked rows
ESTIMATE_COLUMNS = ("age", "gender", "gender_score", "face_estimated", "body_estimated")
DETECTION_ROW = "detection_row"  # People.data key: a tracked row's row among the frame's detections
SHARPNESS_SIZE = 64  # faces are compared for sharpness at one size, so a larger face is not "sharper" by scale


@dataclass(frozen=True)
class EstimatePolicy:
    """Which tracked people MiVOLO estimates in a frame (see the module doc)."""

    mode: str = EVERY_FRAME
    every: int = 5  # N: analysed frames of a track between estimates, once it has `after` of them
    after: int = 3  # K: a track's first K frames are all estimated
    growth: float = 1.5  # adaptive: a face this many times the area of the largest one used so far
    sharpening: float = 1.5  # adaptive: a face this many times as sharp (Laplacian variance) as any used


def face_sharpness(image: np.ndarray, face_xyxy: np.ndarray) -> float:
    """Variance of the Laplacian of the face, in grey at SHARPNESS_SIZE^2 (0 for an empty box)."""
    x1, y1, x2, y2 = (int(v) for v in clamp_boxes(face_xyxy.reshape(1, 4), *image.shape[:2])[0])
    if x2 <= x1 or y2 <= y1:
        return 0.0
    grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


@dataclass
class _TrackSchedule:
    estimates: int = 0
    since: int = 0  # analysed frames the track was seen in since its last estimate
    largest_face: float = 0.0  # px^2 of the largest face estimated from
    sharpest_face: float = 0.0


@dataclass
class EstimateSchedule:
    """Per track: is it due an estimate in this frame? Decided when the frame is tracked, before
    MiVOLO runs, so that a batch's frames are decided in order; a track chosen but left without an
    estimate (no usable crop) is given back its turn (`missed`)."""

    policy: EstimatePolicy
    tracks: Dict[int, _TrackSchedule] = field(default_factory=dict)

    def due(self, image: np.ndarray, tracked: People) -> np.ndarray:
        """A bool per tracked row: estimate it now (the schedule counts it as estimated)."""
        policy = self.policy
        due = np.zeros(len(tracked), bool)
        areas = np.prod(np.nan_to_num(tracked.face_xyxy[:, 2:] - tracked.face_xyxy[:, :2]).clip(0), axis=1)
        for row, track_id in enumerate(tracked.track_id.tolist()):
            state = self.tracks.setdefault(track_id, _TrackSchedule())
            due[row] = state.estimates < policy.after or state.since + 1 >= policy.every
            sharpness = 0.0
            if policy.mode == ADAPTIVE and tracked.has_face[row]:
                sharpness = face_sharpness(image, tracked.face_xyxy[row])
                due[row] |= areas[row] > policy.growth * state.largest_face
                due[row] |= sharpness > policy.sharpening * state.sharpest_face
            if due[row]:
                state.estimates, state.since = state.estimates + 1, 0
                state.largest_face = max(state.largest_face, float(areas[row]))
                state.sharpest_face = max(state.sharpest_face, sharpness)
            else:
                state.since += 1
        return due

    def missed(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            state = self.tracks[int(track_id)]
            state.estimates, state.since = state.estimates - 1, self.policy.every

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self.tracks.pop(int(track_id), None)


def numbered(people: People) -> People:
    """`people` with each row's position among them in data[DETECTION_ROW] (it follows the rows
    the tracker keeps)."""
    return people.with_columns(data={**people.data, DETECTION_ROW: np.arange(len(people))})


@dataclass(frozen=True)
class PipelineSettings:
    """How frames go through the networks (see the module doc); the defaults are the sequential path."""

    batch: int = 1  # analysed frames per detector call and per MiVOLO batch
    max_mivolo_batch: Optional[int] = None  # at most this many people per MiVOLO forward pass (None: all)
    device_preprocessing: bool = False  # crops on the model's device instead of OpenCV on the CPU
    threaded_writer: bool = False  # draw and encode the output video in a background thread
    channels_last: bool = False
    compile: bool = False  # torch.compile the MiVOLO network
    estimate: EstimatePolicy = field(default_factory=EstimatePolicy)  # which people MiVOLO estimates

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
    """`detect(images)` -> each image's People, faces associated; `estimate(...)` -> the tracked
    people with MiVOLO's estimates for those due one under the policy."""

    def __init__(self, predictor: Predictor, settings: PipelineSettings, clock: StageClock):
        self.detector = predictor.detector
        self.mivolo = predictor.age_gender_model
        self.settings = settings
        self.clock = clock
        self.schedule = EstimateSchedule(settings.estimate)
        self.device_preprocessor = None
        if settings.device_preprocessing:
            from mivolo.model.device_preprocessing import DevicePreprocessor

            self.device_preprocessor = DevicePreprocessor(self.mivolo)

    def detect(self, images: List[np.ndarray]) -> List[People]:
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

    def _prepare(self, image: np.ndarray, people: People, due: Optional[np.ndarray]):
        if self.device_preprocessor is None:
            return self.mivolo.prepare(image, people, due)
        model_input, rows = self.device_preprocessor.prepare(image, people)
        if due is None or model_input is None:
            return model_input, rows
        # the device builds every row's crops in one go (cheap there); only the due rows are kept
        kept = [index for index, row in enumerate(rows) if due[row.person]]
        if not kept:
            return None, []
        return model_input[torch.tensor(kept, device=model_input.device)], [rows[index] for index in kept]

    def _due_detections(self, images: List[np.ndarray], detected: List[People], tracked: List[People]):
        """Per frame, the detection rows MiVOLO estimates (None: all of them)."""
        if self.settings.estimate.mode == EVERY_FRAME:
            return [None] * len(detected)  # every detected person, tracked or not, as the original
        due_rows = []
        for image, people, frame_tracked in zip(images, detected, tracked):
            due = np.zeros(len(people), bool)
            due[frame_tracked.data[DETECTION_ROW][self.schedule.due(image, frame_tracked)]] = True
            due_rows.append(due)
        return due_rows

    def estimate(self, images: List[np.ndarray], detected: List[People], tracked: List[People]) -> List[People]:
        """`tracked` (each frame's tracked rows of `detected`, `numbered`) with this frame's estimates
        of the people due one: one MiVOLO batch over the due rows of every frame, in the published
        row order, each body masked against all the frame's detections."""
        inputs, rows_per_frame = [], []
        with self.clock("crop_preprocess"):
            due_rows = self._due_detections(images, detected, tracked)
            for image, frame_people, due in zip(images, detected, due_rows):
                model_input, rows = self._prepare(image, frame_people, due)
                rows_per_frame.append(rows)
                if model_input is not None:
                    inputs.append(model_input)
        filled = list(detected)
        if inputs:
            with self.clock("mivolo"):
                output = self._infer(torch.cat(inputs) if len(inputs) > 1 else inputs[0])
                start = 0
                for index, rows in enumerate(rows_per_frame):
                    if rows:
                        filled[index] = self.mivolo.fill(output[start : start + len(rows)], detected[index], rows)
                        start += len(rows)
        return [self._onto_tracked(people, frame_tracked, due) for people, frame_tracked, due in zip(filled, tracked, due_rows)]

    def _onto_tracked(self, estimated: People, tracked: People, due: Optional[np.ndarray]) -> People:
        positions = tracked.data[DETECTION_ROW]
        if due is not None:
            self.schedule.missed(tracked.track_id[due[positions] & ~estimated.has_estimate[positions]])
        data = {key: value for key, value in tracked.data.items() if key != DETECTION_ROW}
        return tracked.with_columns(data=data, **{name: getattr(estimated, name)[positions] for name in ESTIMATE_COLUMNS})
