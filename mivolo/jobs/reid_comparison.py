"""Compare tracking runs of one video without and with each Re-ID model: the table of demo_advanced_reid.py.

Per run: tracks created (IDs in its MOT file), unique people after `--reid-merge` (the run's
tracks re-embedded from the video with that run's model, then merged), ID switches against a
MOT ground truth when one is given, and processing speed. `frames` (read / in the video) and
`completed` say whether the run saw the whole video: a run cut by Ctrl-C or SIGTERM is kept,
marked `completed: no (SIGINT)`, since its counts cover fewer frames than the others'.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from mivolo.core.errors import MiVOLOError
from mivolo.core.geometry import box_iou
from mivolo.io.safe_output import atomic_path
from mivolo.reid.encoder import ReIDEncoder
from mivolo.tracking.merge import (
    TrackAppearance,
    TrackAppearanceAccumulator,
    merge_fragments,
)

if TYPE_CHECKING:
    from mivolo.jobs.video_job import VideoRunResult

DEFAULT_MATCH_IOU = 0.5  # CLEAR-MOT's usual overlap for a hypothesis to match a ground-truth box
EMBEDDINGS_PER_TRACK = 16  # enough to average out a few bad crops


@dataclass(frozen=True)
class MotBox:
    frame: int  # 1-based, as in MOT files
    track_id: int
    box: np.ndarray  # xyxy


@dataclass(frozen=True)
class ComparisonRow:
    label: str  # "no Re-ID" or the model name
    embedding_dim: Optional[int]
    tracks_created: int
    people_after_merge: Optional[int]  # None without a Re-ID model
    id_switches: Optional[int]  # None without ground truth
    fps: float
    frames_read: int
    frame_count: Optional[int]  # the video's length; None when the source does not tell
    stopped_by: Optional[str] = None  # the signal that cut the run; None when it saw the whole video


def read_mot(path) -> List[MotBox]:
    """MOTChallenge rows `frame, id, left, top, width, height, ...`; other columns are ignored."""
    path = Path(path)
    rows = []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise MiVOLOError(f"{path}: cannot read the MOT file ({exc.strerror or exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            frame, track_id = int(float(fields[0])), int(float(fields[1]))
            left, top, width, height = (float(v) for v in fields[2:6])
        except (ValueError, IndexError):
            raise MiVOLOError(f"{path}:{number}: not a MOT row (frame, id, left, top, width, height, ...)") from None
        rows.append(MotBox(frame, track_id, np.array([left, top, left + width, top + height], np.float32)))
    return rows


def _by_frame(rows: Sequence[MotBox]) -> Dict[int, List[MotBox]]:
    frames: Dict[int, List[MotBox]] = defaultdict(list)
    for row in rows:
        frames[row.frame].append(row)
    return frames


def count_id_switches(
    ground_truth: Sequence[MotBox], hypothesis: Sequence[MotBox], match_iou: float = DEFAULT_MATCH_IOU
) -> int:
    """CLEAR-MOT ID switches: a ground-truth person matched to a different track than at their last match.

    Per frame, ground truth and tracker boxes are matched one to one (Hungarian, on IoU, only
    pairs with IoU >= match_iou).
    """
    tracks_by_frame = _by_frame(hypothesis)
    last_track: Dict[int, int] = {}
    switches = 0
    for frame, truths in sorted(_by_frame(ground_truth).items()):
        tracks = tracks_by_frame.get(frame, [])
        if not tracks:
            continue
        iou = box_iou(np.stack([t.box for t in truths]), np.stack([t.box for t in tracks]))
        rows, cols = linear_sum_assignment(-iou)
        for row, col in zip(rows, cols):
            if iou[row, col] < match_iou:
                continue
            person, track = truths[row].track_id, tracks[col].track_id
            if person in last_track and last_track[person] != track:
                switches += 1
            last_track[person] = track
    return switches


def track_appearances(video_path, rows: Sequence[MotBox], encoder: ReIDEncoder) -> List[TrackAppearance]:
    """Each track's mean embedding from up to EMBEDDINGS_PER_TRACK of its boxes, spread over its life."""
    frames_of_track: Dict[int, List[int]] = defaultdict(list)
    for row in rows:
        frames_of_track[row.track_id].append(row.frame)
    sampled = set()
    for track_id, frames in frames_of_track.items():
        picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), EMBEDDINGS_PER_TRACK)).round().astype(int))
        sampled.update((track_id, sorted(frames)[i]) for i in picks)
    wanted = _by_frame([row for row in rows if (row.track_id, row.frame) in sampled])
    accumulator = TrackAppearanceAccumulator()
    capture = cv2.VideoCapture(str(video_path))
    try:
        frame_number = 0
        while wanted:
            ok, image = capture.read()
            if not ok:
                break
            frame_number += 1
            boxes = wanted.pop(frame_number, None)
            if boxes:
                embeddings = encoder.embed(image, np.stack([b.box for b in boxes]))
                for box, embedding in zip(boxes, embeddings):
                    accumulator.add(box.track_id, frame_number, embedding)
    finally:
        capture.release()
    # the merge must know each track's whole life, not just the sampled frames
    spans = {track_id: (min(frames), max(frames)) for track_id, frames in frames_of_track.items()}
    return [
        TrackAppearance(s.track_id, *spans[s.track_id], s.mean_embedding, s.observations)
        for s in accumulator.summaries()
    ]


def comparison_row(
    label: str,
    run: VideoRunResult,
    video_path=None,
    encoder: Optional[ReIDEncoder] = None,
    ground_truth: Optional[Sequence[MotBox]] = None,
    merge_threshold: float = 0.75,
) -> ComparisonRow:
    rows = read_mot(run.outputs["mot"])
    people = None
    if encoder is not None and video_path is not None:
        people = merge_fragments(track_appearances(video_path, rows, encoder), merge_threshold).people
    return ComparisonRow(
        label=label,
        embedding_dim=encoder.dim if encoder is not None else None,
        tracks_created=len({row.track_id for row in rows}),
        people_after_merge=people,
        id_switches=count_id_switches(ground_truth, rows) if ground_truth is not None else None,
        fps=run.stats.fps,
        frames_read=run.stats.frames_read,
        frame_count=run.info.frame_count,
        stopped_by=run.stats.stopped_by,
    )


COLUMNS = (
    "run",
    "embedding dim",
    "tracks created",
    "unique people after merge",
    "ID switches",
    "FPS",
    "frames",
    "completed",
)


def _cells(row: ComparisonRow) -> List[str]:
    def shown(value):
        return "-" if value is None else str(value)

    return [
        row.label,
        shown(row.embedding_dim),
        str(row.tracks_created),
        shown(row.people_after_merge),
        shown(row.id_switches),
        f"{row.fps:.2f}",
        f"{row.frames_read}/{shown(row.frame_count)}",
        "yes" if row.stopped_by is None else f"no ({row.stopped_by})",
    ]


def markdown_table(rows: Sequence[ComparisonRow]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_tables(rows: Sequence[ComparisonRow], folder) -> List[Path]:
    """`reid_comparison.md` and `reid_comparison.csv` in `folder`, each written atomically."""
    folder = Path(folder)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(_cells(row) for row in rows)
    outputs = []
    for name, text in (("reid_comparison.md", markdown_table(rows)), ("reid_comparison.csv", buffer.getvalue())):
        with atomic_path(folder / name) as tmp:
            tmp.write_text(text)
        outputs.append(folder / name)
    return outputs
