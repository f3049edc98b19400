"""demo.py on one video source: decode -> detect -> associate -> MiVOLO -> track -> aggregate ->
draw / log, then the exports.

Frames are decoded ahead in a thread. Detection and MiVOLO run over batches of `pipeline.batch`
analysed frames (mivolo.jobs.pipeline); tracking, aggregation and logging then take the frames one
by one in order, and with `pipeline.threaded_writer` drawing and encoding run in a thread. With
`reid_merge_threshold`, each track's Re-ID embeddings are averaged during the run and track
fragments of one person are joined at the end (mivolo.tracking.merge) in every export.

Whatever ends the run (the source ending, Ctrl-C, SIGTERM, an error) the outputs are finalised:
a playable video with as many frames as were read, the JSON files up to the last analysed
frame, and the summary.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import torch

import numpy as np
from tqdm import tqdm

from mivolo.tracking.aggregation import (
    DEFAULT_MIN_TRACK_LENGTH,
    AggregationMode,
    AggregationSettings,
    Prediction,
    TrackBook,
    TrackHistory,
)
from mivolo.sinks.exports import (
    CropWriter,
    FrameLog,
    FrameObservation,
    PersonObservation,
    RunStats,
    relative_to,
    summary_document,
    write_frame_exports,
)
from mivolo.core.errors import MiVOLOError
from mivolo.io.safe_output import write_json_atomic
from mivolo.jobs.pipeline import FrameBatchAnalyser, PipelineSettings, StageClock
from mivolo.model.predictor import Predictor
from mivolo.tracking.merge import TrackAppearanceAccumulator, merge_fragments
from mivolo.io.sources import VideoSource
from mivolo.core.drawing import DrawnPerson, draw_people
from mivolo.model.structures import PersonAndFaceResult
from mivolo.tracking.tracker import AppearanceEncoder, TrackedPerson, TrackerConfig, create_tracker, humans_from_detections
from mivolo.io.video import (
    OUTPUT_SUFFIX,
    AnnotatedVideoWriter,
    BackgroundVideoWriter,
    FramePacket,
    VideoInfo,
    VideoReader,
    prefetch,
)

_logger = logging.getLogger("mivolo")


@dataclass(frozen=True)
class VideoJobSettings:
    output_dir: Path
    tracker: TrackerConfig
    aggregation: AggregationSettings = field(default_factory=AggregationSettings)
    draw: bool = False
    save_json: bool = False
    json_path: Optional[Path] = None  # the per-frame JSON; default OUTPUT/<name>_frames.json
    save_crops: bool = False
    crops_dir: Optional[Path] = None  # default OUTPUT/crops; each video gets a sub-folder
    crop_every: int = 0
    skip_frames: int = 0
    min_track_length: int = DEFAULT_MIN_TRACK_LENGTH
    max_height: int = 1080
    progress: bool = True
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    reid_merge_threshold: Optional[float] = None  # join track fragments at the end (needs a Re-ID encoder)


@dataclass(frozen=True)
class VideoOutputs:
    summary_json: Path
    mot: Path
    video: Optional[Path] = None
    frames_json: Optional[Path] = None
    crops_dir: Optional[Path] = None

    @classmethod
    def plan(cls, settings: VideoJobSettings, name: str) -> "VideoOutputs":
        out = settings.output_dir
        return cls(
            summary_json=out / f"{name}_summary.json",
            mot=out / f"{name}_mot.txt",
            video=out / f"out_{name}{OUTPUT_SUFFIX}" if settings.draw else None,
            frames_json=(settings.json_path or out / f"{name}_frames.json") if settings.save_json else None,
            crops_dir=(settings.crops_dir or out / "crops") / name if settings.save_crops else None,
        )


@dataclass
class VideoRunResult:
    source: VideoSource
    info: VideoInfo
    stats: RunStats
    outputs: VideoOutputs
    unique_people: int


class StopRequest:
    """SIGINT / SIGTERM ask the run to stop after the current frame (a second SIGINT interrupts
    at once). Handlers can only be installed from the main thread; elsewhere this does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal_name: Optional[str] = None
        self._previous = {}

    def _handle(self, signum, _frame) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def overlay_for(tracked: List[TrackedPerson], estimates) -> List[DrawnPerson]:
    """What to draw: each tracked person's body and face, labelled with the track ID and the
    aggregated estimate, in the track's colour."""
    return [
        DrawnPerson(person.human.body_box, person.human.face_box, estimate.age, estimate.gender, person.track_id, person.track_id)
        for person, estimate in zip(tracked, estimates)
    ]


class VideoRun:
    """One video source through the whole pipeline."""

    def __init__(
        self,
        predictor: Predictor,
        reader: VideoReader,
        settings: VideoJobSettings,
        reid_encoder: Optional[AppearanceEncoder] = None,
    ):
        self.predictor = predictor
        self.reader = reader
        self.info = reader.info
        self.settings = settings
        self.source = reader.source
        self.outputs = VideoOutputs.plan(settings, self.source.name)
        if settings.reid_merge_threshold is not None and reid_encoder is None:
            raise MiVOLOError("--reid-merge needs a Re-ID model: pass --reid NAME|PATH or set model in the tracker YAML")
        self.reid_encoder = reid_encoder
        self.tracker = create_tracker(settings.tracker, reid_encoder)
        self.book = TrackBook(settings.aggregation)
        self.crops = CropWriter(self.outputs.crops_dir, settings.crop_every) if self.outputs.crops_dir else None
        self.stats = RunStats()
        self.clock = StageClock()
        self.analyser = FrameBatchAnalyser(predictor, settings.pipeline, self.clock)
        self.appearances = TrackAppearanceAccumulator() if settings.reid_merge_threshold is not None else None

    # ---- one analysed frame ------------------------------------------------------------------

    def track_and_log(self, packet: FramePacket, detections: PersonAndFaceResult, log: FrameLog) -> List[DrawnPerson]:
        """One analysed frame after the networks: track, aggregate, log; the overlay to draw."""
        image = packet.image
        with self.clock("track"):
            tracked = self.tracker.update(humans_from_detections(detections), image)
            self.book.close(self.tracker.ended_track_ids())
        with self.clock("aggregate"):
            return self._aggregate(packet, tracked, log)

    def _aggregate(self, packet: FramePacket, tracked: List[TrackedPerson], log: FrameLog) -> List[DrawnPerson]:
        image = packet.image
        height, width = image.shape[:2]
        people, estimates = [], []
        for person in tracked:
            if self.appearances is not None and person.embedding is not None:
                self.appearances.add(person.track_id, packet.index, person.embedding)
            human = person.human
            history = self.book.history(person.track_id, packet.timestamp_s)
            prediction = None
            if human.age is not None:
                prediction = Prediction(
                    human.age, human.gender, human.gender_score, human.confidence, human.face_estimated, human.body_estimated
                )
            crop = self._crop(packet, person, history.observe(packet.timestamp_s, prediction), history)
            estimate = history.estimate()
            estimates.append(estimate)
            box = np.clip(person.box, 0, [width, height, width, height])
            centre = (human.display_box[:2] + human.display_box[2:]) / 2
            people.append(
                PersonObservation(
                    track_id=person.track_id,
                    box=[float(v) for v in box],
                    confidence=float(human.confidence),
                    location=[int(round(float(v))) for v in centre],
                    age=estimate.age,
                    gender=estimate.gender,
                    gender_score=estimate.gender_score,
                    gender_vote_share=estimate.gender_vote_share,
                    crop=crop,
                )
            )
        log.append(FrameObservation(packet.index, packet.timestamp_s, people))
        return overlay_for(tracked, estimates)

    def _crop(self, packet: FramePacket, person: TrackedPerson, is_best: bool, history: TrackHistory) -> Optional[str]:
        """Save this frame's crops as asked; the crop file to show for the person in this frame."""
        if self.crops is None:
            return None
        box = person.human.display_box
        if is_best or history.best_crop is None:
            history.best_crop = self.crops.save_best(person.track_id, packet.image, box) or history.best_crop
        if self.crops.due(history.frames_seen):
            return self.crops.save_frame(person.track_id, packet.index, packet.image, box) or history.best_crop
        return history.best_crop

    # ---- the loop ------------------------------------------------------------------------------

    def is_analysed(self, index: int) -> bool:
        return index % (self.settings.skip_frames + 1) == 0

    def _open_writer(self):
        if self.outputs.video is None:
            return None
        writer = AnnotatedVideoWriter(self.outputs.video, self.info)
        return BackgroundVideoWriter(writer, self.clock) if self.settings.pipeline.threaded_writer else writer

    def _write(self, writer, image, overlay: Optional[List[DrawnPerson]]) -> None:
        render = (lambda: image) if overlay is None else (lambda: draw_people(image, overlay))
        if isinstance(writer, BackgroundVideoWriter):
            writer.write(render)
            return
        with self.clock("draw"):
            frame = render()
        with self.clock("encode"):
            writer.write(frame)

    def _process(self, pending: List[FramePacket], writer, log: FrameLog) -> None:
        """Frames read since the last batch, in order: analyse the batch, then track, log and write each."""
        analysed = [p for p in pending if not p.corrupt and self.is_analysed(p.index)]
        detections = iter(self.analyser.analyse([p.image for p in analysed]) if analysed else [])
        for packet in pending:
            if packet.corrupt:
                self.stats.frames_corrupt += 1
                _logger.warning("%s: frame %d could not be decoded; skipped", self.source.display_name, packet.index)
                if writer is not None:
                    writer.repeat_last()
                continue
            if self.is_analysed(packet.index):
                self._overlay = self.track_and_log(packet, next(detections), log)
                self.stats.frames_analysed += 1
            if writer is not None:
                self._write(writer, packet.image, self._overlay)

    def run(self) -> VideoRunResult:
        settings = self.settings
        writer = self._open_writer()
        log = FrameLog(settings.output_dir / f".{self.source.name}.frames.jsonl")
        progress = tqdm(
            total=self.info.frame_count,
            unit="frame",
            desc=self.source.name,
            disable=not settings.progress,
            dynamic_ncols=True,
        )
        self._overlay: Optional[List[DrawnPerson]] = None
        pending: List[FramePacket] = []
        started = time.perf_counter()
        try:
            # frames that are neither analysed nor drawn are grabbed, never decoded
            frames = self.reader.frames(lambda index: writer is not None or self.is_analysed(index))
            with StopRequest() as stop, contextlib.closing(prefetch(frames)) as packets:
                for packet in self.clock.timed("decode", packets):
                    self.stats.frames_read += 1
                    progress.update(1)
                    pending.append(packet)
                    analysable = sum(1 for p in pending if not p.corrupt and self.is_analysed(p.index))
                    if analysable >= settings.pipeline.batch or stop.signal_name is not None:
                        self._process(pending, writer, log)
                        pending = []
                    if stop.signal_name is not None:
                        self.stats.stopped_by = stop.signal_name
                        break
                self._process(pending, writer, log)
        except KeyboardInterrupt:
            self.stats.stopped_by = "SIGINT"
            raise
        except Exception as exc:
            self.stats.stopped_by = f"error: {exc}"
            raise
        finally:
            progress.close()
            self.stats.seconds = time.perf_counter() - started
            video = writer.close() if writer is not None else None
            self._record_resources()
            result = self.finalise(log, video)
        failure = getattr(writer, "failure", None)
        if failure is not None:
            raise failure
        return result

    def _record_resources(self) -> None:
        self.stats.stage_seconds = dict(self.clock.seconds)
        self.stats.peak_rss_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        device = getattr(self.predictor.age_gender_model, "device", None)
        if isinstance(device, torch.device) and device.type == "cuda":
            self.stats.peak_gpu_mib = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)

    def _merge_fragments(self) -> Optional[Dict[int, int]]:
        """With --reid-merge: join the fragments in the track book; track ID -> person ID."""
        if self.appearances is None:
            return None
        self.stats.tracks_before_merge = len(self.book.reported(self.settings.min_track_length))
        merge = merge_fragments(self.appearances.summaries(), self.settings.reid_merge_threshold)
        self.book.merge(group for group in merge.groups if len(group) > 1)
        return merge.person_of_track

    def finalise(self, log: FrameLog, video: Optional[Path]) -> VideoRunResult:
        settings = self.settings
        person_of_track = self._merge_fragments()
        reported = self.book.reported(settings.min_track_length)
        final = {track.track_id: track.estimate() for track in reported}
        use_final = settings.aggregation.mode is AggregationMode.GLOBAL
        peak = write_frame_exports(
            log, final, use_final, self.outputs.frames_json, self.outputs.mot, person_of_track
        )
        log.discard()
        outputs = VideoOutputs(
            summary_json=self.outputs.summary_json,
            mot=self.outputs.mot,
            video=video,
            frames_json=self.outputs.frames_json,
            crops_dir=self.outputs.crops_dir,
        )
        summary_dir = outputs.summary_json.parent
        document = summary_document(
            source={
                "input": self.source.display_name,
                "kind": self.source.kind.value,
                "width": self.info.width,
                "height": self.info.height,
                "fps": round(self.info.fps, 3),
                "frame_count": self.info.frame_count,
            },
            settings={
                "tracker": str(settings.tracker.path),
                "tracker_type": settings.tracker.tracker_type,
                "aggregation": settings.aggregation.mode.value,
                "skip_frames": settings.skip_frames,
                "min_track_length": settings.min_track_length,
                "reid_model": None if self.reid_encoder is None else self.reid_encoder.name,
                "reid_merge_threshold": settings.reid_merge_threshold,
                "batch": settings.pipeline.batch,
                "device_preprocessing": settings.pipeline.device_preprocessing,
            },
            stats=self.stats,
            tracks=reported,
            peak_concurrent=peak,
            outputs={
                "video": relative_to(outputs.video, summary_dir),
                "frames_json": relative_to(outputs.frames_json, summary_dir),
                "mot": relative_to(outputs.mot, summary_dir),
                "crops_dir": relative_to(outputs.crops_dir, summary_dir),
            },
            summary_dir=summary_dir,
        )
        write_json_atomic(outputs.summary_json, document)
        return VideoRunResult(self.source, self.info, self.stats, outputs, unique_people=len(reported))


def run_video(
    predictor: Predictor,
    source: VideoSource,
    settings: VideoJobSettings,
    reid_encoder: Optional[AppearanceEncoder] = None,
) -> VideoRunResult:
    """Process one video source; see the module docstring for what is always written."""
    reader = VideoReader(source, settings.max_height)
    try:
        return VideoRun(predictor, reader, settings, reid_encoder).run()
    finally:
        reader.close()
