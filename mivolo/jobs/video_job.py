"""The video run: decode -> detect (faces associated with bodies) -> MiVOLO -> track -> aggregate
-> sinks (annotated video, crops, per-frame JSON, MOT file, summary, ...).

Frames are decoded ahead in a thread. Detection and MiVOLO run over batches of `pipeline.batch`
analysed frames (mivolo.jobs.pipeline); tracking and aggregation then take the frames one by one
in order, each frame's People (mivolo.core.record) gaining its columns stage by stage, and every
frame goes to every sink. Analysed frames are also kept in the run's frame log, from which the
sinks that need the whole run write at the end. With `reid_merge_threshold`, each track's Re-ID
embeddings are averaged during the run and track fragments of one person are joined at the end
(mivolo.tracking.merge) in every output.

Whatever ends the run (the source ending, Ctrl-C, SIGTERM, an error) the outputs are finalised:
a playable video with as many frames as were read, the JSON files up to the last analysed
frame, and the summary. Signals during finalisation are ignored, so a second Ctrl-C then cannot
lose what was analysed. A file whose frames run out more than a second short of the count its
container announces (truncated or damaged) ends with `stopped_by` "source ended early: ..."
and `completed` false in the summary, instead of passing for the whole video.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from tqdm import tqdm

from mivolo.analytics.zone_summary import facts_of, summarise
from mivolo.analytics.zone_tracker import ZoneTracker
from mivolo.analytics.zones import ZoneSet, zone_set_of
from mivolo.core.errors import MiVOLOError
from mivolo.core.record import FrameRecord, People
from mivolo.core.timing import StageClock
from mivolo.io.sources import VideoSource
from mivolo.io.video import FramePacket, VideoInfo, VideoReader, prefetch
from mivolo.jobs.frame_log import FrameLog, reported_frames
from mivolo.jobs.pipeline import FrameBatchAnalyser, PipelineSettings, numbered
from mivolo.model.predictor import Predictor
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, RunInfo, RunResult, RunStats, Sink
from mivolo.sinks.registry import build_sinks, output_options
from mivolo.tracking.aggregation import DEFAULT_MIN_TRACK_LENGTH, AggregationMode, AggregationSettings, TrackBook
from mivolo.tracking.merge import TrackAppearanceAccumulator, merge_fragments
from mivolo.tracking.tracker import AppearanceEncoder, TrackerConfig, create_tracker


@dataclass(frozen=True)
class VideoJobSettings:
    output_dir: Path
    tracker: TrackerConfig
    aggregation: AggregationSettings = field(default_factory=AggregationSettings)
    outputs: argparse.Namespace = field(default_factory=output_options)  # which outputs, from the sinks' flags
    json_path: Optional[Path] = None  # the per-frame JSON; default OUTPUT/<name>_frames.json
    skip_frames: int = 0
    min_track_length: int = DEFAULT_MIN_TRACK_LENGTH
    max_height: int = 1080
    progress: bool = True
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    reid_merge_threshold: Optional[float] = None  # join track fragments at the end (needs a Re-ID encoder)


@dataclass
class VideoRunResult:
    source: VideoSource
    info: VideoInfo
    stats: RunStats
    outputs: Dict[str, Optional[Path]]  # what each output wrote, by name (video, frames_json, mot, summary_json, ...)
    unique_people: int


def zone_settings(zones: ZoneSet) -> dict:
    """What the summary says of the declared zones and lines (in pixels)."""
    return {
        "zones": {zone.name: [[round(x, 1), round(y, 1)] for x, y in zone.points] for zone in zones.zones},
        "lines": {line.name: [[round(v, 1) for v in point] for point in (line.start, line.end)] for line in zones.lines},
        "anchor": zones.anchor,
        "crossing_frames": zones.confirm_frames,
    }


class StopRequest:
    """SIGINT / SIGTERM ask the run to stop after the current frame (a second SIGINT interrupts
    the analysis at once). Once `finalising` is set, signals are ignored: the outputs are being
    written, and stopping then would lose them. Handlers can only be installed from the main
    thread; elsewhere this does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal_name: Optional[str] = None
        self.finalising = False
        self._previous = {}

    def _handle(self, signum, _frame) -> None:
        if self.finalising:
            return
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


class VideoRun:
    """One video source through the whole pipeline."""

    def __init__(
        self,
        predictor: Predictor,
        reader: VideoReader,
        settings: VideoJobSettings,
        reid_encoder: Optional[AppearanceEncoder] = None,
        sinks: Optional[List[Sink]] = None,
    ):
        self.predictor = predictor
        self.reader = reader
        self.info = reader.info
        self.settings = settings
        self.source = reader.source
        if settings.reid_merge_threshold is not None and reid_encoder is None:
            raise MiVOLOError("--reid-merge needs a Re-ID model: pass --reid NAME|PATH or set model in the tracker YAML")
        self.plan = OutputPlan(VIDEO_RUN, settings.output_dir, self.source.name, settings.json_path)
        self.sinks = build_sinks(settings.outputs, self.plan) if sinks is None else sinks
        self.reid_encoder = reid_encoder
        self.tracker = create_tracker(settings.tracker, reid_encoder)
        self.book = TrackBook(settings.aggregation)
        self.clock = StageClock()
        # the clock's own totals: a writer thread still drawing when the sinks close keeps counting
        self.stats = RunStats(stage_seconds=self.clock.seconds)
        self.analyser = FrameBatchAnalyser(predictor, settings.pipeline, self.clock)
        self.appearances = TrackAppearanceAccumulator() if settings.reid_merge_threshold is not None else None
        zones = zone_set_of(settings.outputs)
        zones = None if zones is None else zones.in_pixels((self.info.width, self.info.height))
        self.zones = None if zones is None else ZoneTracker(zones)
        self.run_info = RunInfo(
            kind=VIDEO_RUN,
            output_dir=settings.output_dir,
            name=self.source.name,
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
                "reid_model": None if reid_encoder is None else reid_encoder.name,
                "reid_merge_threshold": settings.reid_merge_threshold,
                "batch": settings.pipeline.batch,
                "device_preprocessing": settings.pipeline.device_preprocessing,
                **({} if zones is None else {"zones": zone_settings(zones)}),
            },
            fps=self.info.fps,
            frame_size=(self.info.width, self.info.height),
            clock=self.clock,
            threaded_writer=settings.pipeline.threaded_writer,
        )
        self._last_people = People.empty()

    # ---- one analysed frame ------------------------------------------------------------------

    def track_and_aggregate(self, packets: List[FramePacket], detected: List[People]) -> List[People]:
        """A batch of analysed frames after the detector: each frame tracked in order, MiVOLO over
        the people due an estimate in the whole batch, then each frame's tracked people with their
        tracks' answers."""
        tracked, ended = [], []
        with self.clock("track"):
            for packet, people in zip(packets, detected):
                tracked.append(self.tracker.update(numbered(people), packet.image))
                ended.append(self.tracker.ended_track_ids())
                self.analyser.schedule.forget(ended[-1])
        tracked = self.analyser.estimate([packet.image for packet in packets], detected, tracked)
        answers = []
        for packet, people, gone in zip(packets, tracked, ended):
            with self.clock("aggregate"):
                # closed as each frame comes, so that earlier frames of the batch still add to them
                self.book.close(gone)
                if self.appearances is not None and people.embedding is not None:
                    for track_id, embedding in zip(people.track_id, people.embedding):
                        if not np.isnan(embedding).any():
                            self.appearances.add(int(track_id), packet.index, embedding)
                answered = self.book.update(people, packet.timestamp_s)
            if self.zones is not None:
                with self.clock("zones"):
                    answered = self.zones.update(answered, packet.index, packet.timestamp_s)
            answers.append(answered)
        return answers

    # ---- the loop ------------------------------------------------------------------------------

    def is_analysed(self, index: int) -> bool:
        return index % (self.settings.skip_frames + 1) == 0

    def _write(self, frame: FrameRecord) -> None:
        for sink in self.sinks:
            if frame.analysed or sink.needs_every_frame:
                sink.write(frame)

    def _process(self, pending: List[FramePacket], log: FrameLog) -> None:
        """Frames read since the last batch, in order: analyse the batch, then track, log and write each."""
        analysed = [p for p in pending if not p.corrupt and self.is_analysed(p.index)]
        detected = self.analyser.detect([p.image for p in analysed]) if analysed else []
        people_of = iter(self.track_and_aggregate(analysed, detected) if analysed else [])
        for packet in pending:
            if packet.corrupt:
                self.stats.frames_corrupt += 1
                self._write(FrameRecord(packet.index, packet.timestamp_s, None, self._last_people, analysed=False, corrupt=True))
                continue
            if self.is_analysed(packet.index):
                self._last_people = next(people_of)
                frame = FrameRecord(packet.index, packet.timestamp_s, packet.image, self._last_people)
                log.append(frame)
                self.stats.frames_analysed += 1
            else:
                frame = FrameRecord(packet.index, packet.timestamp_s, packet.image, self._last_people, analysed=False)
            self._write(frame)

    def run(self) -> VideoRunResult:
        settings = self.settings
        log = FrameLog(settings.output_dir, self.source.name)
        try:
            for sink in self.sinks:
                sink.open(self.run_info)
        except BaseException:
            log.discard()  # nothing analysed yet: no outputs to finalise
            raise
        progress = tqdm(
            total=self.info.frame_count,
            unit="frame",
            desc=self.source.name,
            disable=not settings.progress,
            dynamic_ncols=True,
        )
        drawn = any(sink.needs_every_frame for sink in self.sinks)
        pending: List[FramePacket] = []
        started = time.perf_counter()
        with StopRequest() as stop:
            try:
                # frames that are neither analysed nor drawn are grabbed, never decoded
                frames = self.reader.frames(lambda index: drawn or self.is_analysed(index))
                with contextlib.closing(prefetch(frames)) as packets:
                    for packet in self.clock.timed("decode", packets):
                        self.stats.frames_read += 1
                        progress.update(1)
                        pending.append(packet)
                        analysable = sum(1 for p in pending if not p.corrupt and self.is_analysed(p.index))
                        if analysable >= settings.pipeline.batch or stop.signal_name is not None:
                            self._process(pending, log)
                            pending = []
                        if stop.signal_name is not None:
                            self.stats.stopped_by = stop.signal_name
                            break
                    self._process(pending, log)
                if self.stats.stopped_by is None:
                    self.stats.stopped_by = self._ended_early()
            except KeyboardInterrupt:
                self.stats.stopped_by = "SIGINT"
                raise
            except Exception as exc:
                self.stats.stopped_by = f"error: {exc}"
                raise
            finally:
                stop.finalising = True
                progress.close()
                self.stats.seconds = time.perf_counter() - started
                result = self.finalise(log)
        return result

    def _ended_early(self) -> Optional[str]:
        """Why a file that ran out of frames short of its container's count did not end (None when
        it did). A second's slack: containers without a frame index estimate it from the duration."""
        expected, read = self.info.frame_count, self.stats.frames_read
        if expected is None or expected - read <= max(1, round(self.info.fps)):
            return None
        return f"source ended early: {read} of the {expected} frames its container announces"

    def _record_resources(self) -> None:
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

    def finalise(self, log: FrameLog) -> VideoRunResult:
        """Close every sink (one that fails does not stop the others; its error is raised after)."""
        settings = self.settings
        person_of_track = self._merge_fragments()
        reported = self.book.reported(settings.min_track_length)
        final = {track.track_id: track.estimate() for track in reported}
        use_final = settings.aggregation.mode is AggregationMode.GLOBAL
        result = RunResult(
            info=self.run_info,
            stats=self.stats,
            tracks=reported,
            person_of_track=person_of_track,
            use_final_estimates=use_final,
            frames=lambda: reported_frames(log, final, use_final, person_of_track),
            zone_names=[] if self.zones is None else self.zones.zones.zone_names,
        )
        if self.zones is not None:
            with self.clock("zones"):
                zones = self.zones.zones
                result.zones = summarise(
                    zones.zone_names, zones.line_names, self.zones.finish(),
                    {track.track_id: facts_of(track) for track in reported}, result.figures().zone_peaks, person_of_track,
                )  # fmt: skip
        failure: Optional[BaseException] = None
        self._record_resources()
        try:
            for sink in self.sinks:
                try:
                    result.outputs.update(sink.close(result))
                except Exception as exc:  # the other outputs are still written
                    failure = failure or exc
        finally:
            log.discard()
        if failure is not None:
            raise failure
        return VideoRunResult(self.source, self.info, self.stats, result.outputs, unique_people=len(reported))


def run_video(
    predictor: Predictor,
    source: VideoSource,
    settings: VideoJobSettings,
    reid_encoder: Optional[AppearanceEncoder] = None,
    sinks: Optional[List[Sink]] = None,
    reader: Optional[VideoReader] = None,
) -> VideoRunResult:
    """Process one video source; see the module docstring for what is always written. `sinks`
    replaces the outputs `settings.outputs` asks for; `reader` is the source already opened."""
    reader = reader or VideoReader(source, settings.max_height)
    try:
        return VideoRun(predictor, reader, settings, reid_encoder, sinks).run()
    finally:
        reader.close()
