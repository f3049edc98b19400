"""What a video run leaves behind: the per-frame JSON, the per-track summary JSON, person crops
and a MOTChallenge track file.

During the run each analysed frame is appended to a JSON-lines log on disk (memory stays flat
however long the video). At the end one pass over the log writes the per-frame JSON and the
MOT file, keeping only tracks long enough to be reported and, with global smoothing, giving
every frame its track's final estimate. Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import numpy as np

from mivolo.tracking.aggregation import Estimate, TrackHistory
from mivolo.core.geometry import clamp_boxes
from mivolo.io.safe_output import atomic_path, write_image_atomic

FRAMES_JSON_VERSION = 2  # 1 was the earlier fork's list (misspelt keys, no under-13 bucket)
SUMMARY_JSON_VERSION = 1
AGE_BUCKETS = (
    ("age_under_13", 0, 12),
    ("age_teen", 13, 19),
    ("age_twenty", 20, 29),
    ("age_thirty", 30, 39),
    ("age_forty", 40, 49),
    ("age_fifty", 50, 59),
    ("age_sixty", 60, 69),
    ("age_seventy", 70, None),
)
GENDER_WORDS = {"male": "man", "female": "woman"}


def age_bucket(age: Optional[float]) -> Optional[str]:
    """The bucket of the age as shown (rounded to whole years)."""
    if age is None:
        return None
    years = max(0, int(round(age)))
    for name, low, high in AGE_BUCKETS:
        if years >= low and (high is None or years <= high):
            return name
    return None


def gender_word(gender: Optional[str]) -> Optional[str]:
    return GENDER_WORDS.get(gender) if gender is not None else None


def _rounded(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def relative_to(path, folder: Path) -> Optional[str]:
    """`path` relative to `folder` ('/'-separated), None for None."""
    return None if path is None else Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()


# ---- the frame log ------------------------------------------------------------------------------


@dataclass
class PersonObservation:
    track_id: int
    box: List[float]  # the tracker's box, xyxy, clipped to the frame
    confidence: float
    location: List[int]  # centre of the body box, or of the face box for a face-only person
    age: Optional[float]
    gender: Optional[str]
    gender_score: Optional[float]
    gender_vote_share: Optional[float]
    crop: Optional[str]  # the crop file shown for this person in this frame


@dataclass
class FrameObservation:
    frame: int  # 0-based index in the source
    time_s: float
    people: List[PersonObservation]


class FrameLog:
    """Analysed frames as JSON lines in a hidden file; removed by `discard`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = self.path.open("w", buffering=1)  # line-buffered: each frame is on disk once analysed

    def append(self, frame: FrameObservation) -> None:
        self._file.write(json.dumps(asdict(frame)) + "\n")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def frames(self) -> Iterator[FrameObservation]:
        self.close()
        with self.path.open() as lines:
            for line in lines:
                raw = json.loads(line)
                people = [PersonObservation(**person) for person in raw.pop("people")]
                yield FrameObservation(people=people, **raw)

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


# ---- per-frame JSON and MOT file ------------------------------------------------------------------


def format_time(seconds: float) -> str:
    return f"{round(seconds, 2)} sec"


def frame_record(frame: FrameObservation, json_dir: Path) -> dict:
    """One element of the per-frame JSON: the fork's record with correct keys, plus extras."""
    record = {
        "version": FRAMES_JSON_VERSION,
        "frame": frame.frame,
        "time": format_time(frame.time_s),
        "time_s": round(frame.time_s, 3),
    }
    genders = [gender_word(p.gender) for p in frame.people]
    buckets = [age_bucket(p.age) for p in frame.people]
    record["total_people"] = len(frame.people)
    record["man"] = genders.count("man")
    record["woman"] = genders.count("woman")
    for name, _, _ in AGE_BUCKETS:
        record[name] = buckets.count(name)
    record["people_data"] = [
        {
            "id": p.track_id,
            "gender": gender_word(p.gender),
            "age": None if p.age is None else int(round(p.age)),
            "gender_score": _rounded(p.gender_score, 3),
            "gender_vote_share": _rounded(p.gender_vote_share, 3),
            "cropped_img": relative_to(p.crop, json_dir),
            "location": p.location,
            "box": [round(v, 1) for v in p.box],
        }
        for p in frame.people
    ]
    return record


def mot_line(frame: FrameObservation, person: PersonObservation) -> str:
    x1, y1, x2, y2 = person.box
    return f"{frame.frame + 1},{person.track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{person.confidence:.4f},-1,-1,-1\n"


def reported_frames(
    log: FrameLog, final: Dict[int, Estimate], use_final: bool, person_of_track: Optional[Dict[int, int]] = None
) -> Iterator[FrameObservation]:
    """The logged frames with only reported tracks; with `use_final` every person shows their
    track's final estimate (global smoothing). `person_of_track` (from --reid-merge) renames
    each track to its person's ID first; `final` is keyed by those IDs."""
    for frame in log.frames():
        if person_of_track:
            for person in frame.people:
                person.track_id = person_of_track.get(person.track_id, person.track_id)
        people = [p for p in frame.people if p.track_id in final]
        if use_final:
            for person in people:
                estimate = final[person.track_id]
                person.age, person.gender = estimate.age, estimate.gender
                person.gender_score, person.gender_vote_share = estimate.gender_score, estimate.gender_vote_share
        yield FrameObservation(frame.frame, frame.time_s, people)


def write_frame_exports(
    log: FrameLog,
    final: Dict[int, Estimate],
    use_final: bool,
    json_path: Optional[Path],
    mot_path: Optional[Path],
    person_of_track: Optional[Dict[int, int]] = None,
) -> int:
    """Write the per-frame JSON (streamed, one record at a time) and the MOT file; returns the
    peak number of people in one frame. See `reported_frames` for `person_of_track`."""
    peak = 0
    with contextlib.ExitStack() as stack:
        json_file = mot_file = None
        if json_path is not None:
            json_file = stack.enter_context(stack.enter_context(atomic_path(json_path)).open("w"))
            json_file.write("[")
        if mot_path is not None:
            mot_file = stack.enter_context(stack.enter_context(atomic_path(mot_path)).open("w"))
        for count, frame in enumerate(reported_frames(log, final, use_final, person_of_track)):
            peak = max(peak, len(frame.people))
            if json_file is not None:
                record = json.dumps(frame_record(frame, json_path.parent), indent=2)
                json_file.write(("," if count else "") + "\n" + record)
            if mot_file is not None:
                mot_file.writelines(mot_line(frame, person) for person in frame.people)
        if json_file is not None:
            json_file.write("\n]\n")
    return peak


# ---- crops ------------------------------------------------------------------------------------------


class CropWriter:
    """Person crops: `best_<id>.jpg` (the track's highest composite score so far) and, with
    `every` > 0, `<id>_<frame>.jpg` for every `every`-th analysed frame of each track."""

    def __init__(self, folder: Path, every: int = 0):
        self.folder = Path(folder)
        self.every = every

    @staticmethod
    def crop(image: np.ndarray, box) -> Optional[np.ndarray]:
        x1, y1, x2, y2 = clamp_boxes(np.asarray(box, dtype=np.float64).astype(np.int32), *image.shape[:2])[0]
        return image[y1:y2, x1:x2] if x2 > x1 and y2 > y1 else None

    def _save(self, name: str, image: np.ndarray, box) -> Optional[str]:
        patch = self.crop(image, box)
        return None if patch is None else str(write_image_atomic(self.folder / name, patch))

    def save_best(self, track_id: int, image: np.ndarray, box) -> Optional[str]:
        return self._save(f"best_{track_id}.jpg", image, box)

    def due(self, frames_seen: int) -> bool:
        return self.every > 0 and (frames_seen - 1) % self.every == 0

    def save_frame(self, track_id: int, frame_index: int, image: np.ndarray, box) -> Optional[str]:
        return self._save(f"{track_id}_{frame_index}.jpg", image, box)


# ---- summary JSON ----------------------------------------------------------------------------------


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


def person_summary(track: TrackHistory, summary_dir: Path) -> dict:
    estimate = track.estimate()
    spread = track.spread.std
    return {
        "id": track.track_id,
        "first_seen_s": round(track.first_seen_s, 3),
        "last_seen_s": round(track.last_seen_s, 3),
        "frames_seen": track.frames_seen,
        "age": _rounded(estimate.age, 2),
        "age_spread": _rounded(spread, 2),
        "gender": gender_word(estimate.gender),
        "gender_score": _rounded(estimate.gender_score, 3),
        "gender_vote_share": _rounded(estimate.gender_vote_share, 3),
        "age_bucket": age_bucket(estimate.age),
        "best_crop": relative_to(track.best_crop, summary_dir),
    }


def summary_document(
    source: dict,
    settings: dict,
    stats: RunStats,
    tracks: List[TrackHistory],
    peak_concurrent: int,
    outputs: dict,
    summary_dir: Path,
) -> dict:
    people = [person_summary(track, summary_dir) for track in tracks]
    genders = [p["gender"] for p in people]
    buckets = [p["age_bucket"] for p in people]
    return {
        "version": SUMMARY_JSON_VERSION,
        "source": source,
        "settings": settings,
        "run": {
            "unique_people": len(people),
            "gender": {"man": genders.count("man"), "woman": genders.count("woman"), "unknown": genders.count(None)},
            "age_buckets": {name: buckets.count(name) for name, _, _ in AGE_BUCKETS},
            "peak_concurrent_people": peak_concurrent,
            "frames_read": stats.frames_read,
            "frames_analysed": stats.frames_analysed,
            "frames_corrupt": stats.frames_corrupt,
            "seconds": round(stats.seconds, 3),
            "fps": round(stats.fps, 2),
            "completed": stats.stopped_by is None,
            "stopped_by": stats.stopped_by,
            "tracks_before_merge": stats.tracks_before_merge,
            "stage_ms_per_frame": stats.stage_ms_per_frame(),
            "peak_rss_mib": stats.peak_rss_mib,
            "peak_gpu_mib": stats.peak_gpu_mib,
        },
        "people": people,
        "outputs": outputs,
    }
