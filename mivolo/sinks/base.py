"""What every output of a run is: a sink that is opened with the run's facts, sees every frame,
and is closed with the run's result, returning the files it wrote.

A sink declares the files it will write before the run starts (`planned`), and the folders it
writes files of its own naming into (`planned_folders`, optional: the crops), so that the
command line can refuse, before any work, outputs that collide with an input or with each other,
and locations that cannot be written. Sinks only read the frames and the result they are given.

Each sink module describes itself with a `SinkSpec`: its command-line flags and how to build it
from them. A new output is one module in `mivolo.sinks` holding a `SINK` spec (see
`registry.py`); nothing else needs to change.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Protocol, Tuple

from mivolo.core.record import FrameRecord

from mivolo.analytics.run_figures import FrameFigures, frame_figures

if TYPE_CHECKING:
    from mivolo.analytics.zone_summary import ZoneReport

IMAGE_RUN, VIDEO_RUN = "images", "video"
IMAGE_RUN_NAME = "images"  # an image run's name, as a video's is its file's stem


@dataclass
class RunStats:
    frames_read: int = 0
    frames_analysed: int = 0
    frames_corrupt: int = 0
    seconds: float = 0.0
    stopped_by: Optional[str] = None  # "SIGINT", "SIGTERM" or an error; None when the source ended
    stage_seconds: Dict[str, float] = field(default_factory=dict)  # total time per pipeline stage
    peak_rss_mib: Optional[float] = None
    peak_gpu_mib: Optional[float] = None
    tracks_before_merge: Optional[int] = None  # with --reid-merge

    def stage_ms_per_frame(self) -> Dict[str, float]:
        """Mean ms per frame read, per stage (stages in threads overlap the others)."""
        frames = max(1, self.frames_read)
        return {stage: round(1000 * seconds / frames, 3) for stage, seconds in self.stage_seconds.items()}

    @property
    def fps(self) -> float:
        return self.frames_read / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RunInfo:
    """What a sink knows when it opens: where outputs go and what the source is."""

    kind: str  # IMAGE_RUN or VIDEO_RUN
    output_dir: Path
    name: str  # a safe stem for file names (the video's; "images" for an image run)
    source: Dict[str, object]  # what the summary says about the input (path, size, fps, ...)
    settings: Dict[str, object]  # what the summary says about the settings
    fps: float = 0.0  # the video's frame rate
    frame_size: Tuple[int, int] = (0, 0)  # width, height of the video's frames
    clock: Any = None  # the run's stage clock (mivolo.core.timing.StageClock), to charge draw / encode time to
    threaded_writer: bool = False  # draw and encode the annotated video in a background thread


@dataclass
class RunResult:
    """What a sink gets when the run ends (see mivolo.jobs.video_job for how it is filled)."""

    info: RunInfo
    stats: RunStats
    tracks: List[Any] = field(default_factory=list)  # the reported people (TrackHistory), by ID
    person_of_track: Optional[Dict[int, int]] = None  # track ID -> person ID after --reid-merge
    use_final_estimates: bool = False  # global smoothing: every frame shows its track's final answer
    frames: Optional[Callable[[], Iterator[FrameRecord]]] = None  # the analysed frames, reported tracks only
    outputs: Dict[str, Optional[Path]] = field(default_factory=dict)  # what the sinks closed so far wrote
    zones: Optional["ZoneReport"] = None  # the zone and line figures, when the run declares zones or lines
    zone_names: List[str] = field(default_factory=list)  # the declared zones, for `figures`
    _figures: Optional[FrameFigures] = field(default=None, repr=False)

    def figures(self) -> FrameFigures:
        """The figures of the reported frames, made in one pass the first time they are asked for."""
        if self._figures is None:
            self._figures = frame_figures(self.frames(), self.zone_names)
        return self._figures


class Sink(Protocol):
    """One output of a run."""

    needs_every_frame: bool  # True: every frame's pixels (an annotated video), not only analysed ones

    def planned(self) -> List[Path]:
        """The files this sink will write, known before the run starts. A sink that also writes
        files named during the run may have `planned_folders()`: the folders they go into."""

    def open(self, info: RunInfo) -> None:
        ...

    def write(self, frame: FrameRecord) -> None:
        """Every frame read, in order; `frame.analysed` tells whether it carries fresh results."""

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        """Finish the output; the paths written, by output name (None: nothing was written)."""


@dataclass(frozen=True)
class SinkSpec:
    """How an output is asked for on the command line and built for a run."""

    name: str
    runs: Tuple[str, ...]  # the kinds of run it applies to (IMAGE_RUN, VIDEO_RUN)
    add_arguments: Callable[[argparse._ArgumentGroup], None]
    build: Callable[[argparse.Namespace, "OutputPlan"], Optional[Sink]]
    order: int = 50  # closing order: a sink reading others' paths (the summary) closes last


@dataclass(frozen=True)
class OutputPlan:
    """Where one run's outputs go: the output folder, the run's name, the JSON file the user
    named for this run (--json-output-path, resolved per video), if any, and for an image run
    each image's name for its files (mivolo.io.sources.image_names)."""

    kind: str
    output_dir: Path
    name: str
    json_path: Optional[Path] = None
    image_names: Tuple[str, ...] = ()

    def path(self, file_name: str) -> Path:
        return self.output_dir / file_name


def planned_outputs(sinks: List[Sink]) -> Tuple[List[Path], List[Path]]:
    """The files and the folders the sinks will write."""
    files: List[Path] = []
    folders: List[Path] = []
    for sink in sinks:
        files += sink.planned()
        folders += getattr(sink, "planned_folders", list)()
    return files, folders
