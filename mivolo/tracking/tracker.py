"""Multi-person tracking with one identity per human.

Faces are associated with bodies once per frame, into the frame's People (mivolo.core.record);
each person (face+body, face only, or body only) goes to ultralytics' BoT-SORT or ByteTrack as
ONE box: the body box, or for a face seen without a body, a body box estimated from the face.
The track ID then belongs to the person's row, so a person and their own face can never get two
IDs.

Re-ID hook: `create_tracker(config, reid_encoder=...)` takes any object with
`embed(image_bgr, boxes_xyxy) -> N x D` (L2-normalised), `name` and `dim`; BoT-SORT then
matches by appearance with it, and each tracked row carries the embedding its track was matched
with in that frame (what `--reid-merge` averages). Which model to load is
`reid_model_name(config, override)`: demo.py's `--reid`, else the YAML's `model` key.

Camera-motion compensation (GMC) runs on a grayscale copy of the frame downscaled to at most
GMC_MAX_WIDTH pixels: its cost no longer grows with the video's resolution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import List, Optional, Protocol, Set

import cv2
import numpy as np
import yaml

from mivolo.core.errors import MiVOLOError
from mivolo.core.paths import data_home
from mivolo.core.record import People

_logger = logging.getLogger("mivolo")

TRACKER_DIR = Path(__file__).resolve().parent.parent / "trackers"
DEFAULT_TRACKER = "botsort.yaml"
USER_TRACKER_SUBDIR = "trackers"  # in the user's data folder (mivolo.core.paths.data_home)
TRACKER_TYPES = ("botsort", "bytetrack")
HUMAN_CLASS = 0  # the trackers see a single class: human

@dataclass(frozen=True)
class TrackerConfig:
    """The keys of trackers/botsort.yaml and trackers/bytetrack.yaml (see the comments there)."""

    path: Path
    tracker_type: str
    track_high_thresh: float
    track_low_thresh: float
    new_track_thresh: float
    track_buffer: int
    match_thresh: float
    fuse_score: bool
    gmc_method: str = "none"
    with_reid: bool = False
    proximity_thresh: float = 0.5
    appearance_thresh: float = 0.8
    model: Optional[str] = None  # Re-ID model name or weight file (optional key, BoT-SORT only)


BYTETRACK_KEYS = (
    "tracker_type",
    "track_high_thresh",
    "track_low_thresh",
    "new_track_thresh",
    "track_buffer",
    "match_thresh",
    "fuse_score",
)
BOTSORT_KEYS = BYTETRACK_KEYS + ("gmc_method", "with_reid", "proximity_thresh", "appearance_thresh")
BOTSORT_OPTIONAL_KEYS = ("model",)  # written by setup_reid_models.py --use NAME
GMC_METHODS = ("sparseOptFlow", "orb", "sift", "ecc", "none")
GMC_MAX_WIDTH = 640  # GMC's frame width in pixels; wider frames are downscaled first


def user_tracker_dir() -> Path:
    """Where this user's tracker configs live (setup_reid_models.py --use writes them there)."""
    return data_home() / USER_TRACKER_SUBDIR


def find_tracker_file(name_or_path: str) -> Path:
    """A path to a YAML file as is; a name (with or without .yaml) in the user's tracker folder,
    else in the shipped one, so that the config --use wrote is found from any folder."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    folders = (user_tracker_dir(), TRACKER_DIR)
    if path.parent == Path("."):
        for folder in folders:
            for candidate in (folder / path.name, folder / f"{path.name}.yaml"):
                if candidate.is_file():
                    return candidate
    known = ", ".join(sorted({p.name for folder in folders for p in folder.glob("*.yaml")})) or "none found"
    raise MiVOLOError(
        f"{name_or_path}: tracker config not found: not a file, nor a name in {folders[0]} or {folders[1]} "
        f"(known: {known})"
    )


def _checked_value(path: Path, key: str, value, kind: type):
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise MiVOLOError(f"{path}: {key} must be a {kind.__name__}, got {value!r}")
    return kind(value)


def load_tracker_config(name_or_path: str) -> TrackerConfig:
    """Read and validate a tracker YAML: every key of its tracker type, no unknown (misspelt) keys."""
    path = find_tracker_file(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MiVOLOError(f"{path}: not a readable YAML file ({str(exc).splitlines()[0]})")
    if not isinstance(raw, dict):
        raise MiVOLOError(f"{path}: a tracker config must be a YAML mapping of settings")
    tracker_type = raw.get("tracker_type")
    if tracker_type not in TRACKER_TYPES:
        raise MiVOLOError(f"{path}: tracker_type must be one of {', '.join(TRACKER_TYPES)}, got {tracker_type!r}")
    expected = BOTSORT_KEYS if tracker_type == "botsort" else BYTETRACK_KEYS
    optional = BOTSORT_OPTIONAL_KEYS if tracker_type == "botsort" else ()
    missing = [key for key in expected if key not in raw]
    unknown = [key for key in raw if key not in expected + optional]
    if missing or unknown:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        raise MiVOLOError(f"{path}: {'; '.join(problems)} (for tracker_type {tracker_type})")
    types = {f.name: f.type for f in fields(TrackerConfig)}
    kinds = {"str": str, "float": float, "int": int, "bool": bool}
    values = {key: _checked_value(path, key, raw[key], kinds[types[key]]) for key in expected}
    if "gmc_method" in values and values["gmc_method"] not in GMC_METHODS:
        raise MiVOLOError(f"{path}: gmc_method must be one of {', '.join(GMC_METHODS)}, got {values['gmc_method']!r}")
    model = raw.get("model")
    if model is not None:
        values["model"] = _checked_value(path, "model", model, str)
    return TrackerConfig(path=path, **values)


def reid_model_name(config: TrackerConfig, override: Optional[str] = None) -> Optional[str]:
    """The Re-ID model the run uses: `override` (demo.py --reid), else the YAML's `model` when
    `with_reid` is true; None for motion-only tracking."""
    if override is not None:
        if config.tracker_type != "botsort":
            raise MiVOLOError(f"--reid needs a BoT-SORT tracker config; {config.path} is {config.tracker_type}")
        return override
    if not config.with_reid:
        return None
    if not config.model:
        raise MiVOLOError(
            f"{config.path}: with_reid is true but no Re-ID model is named: add 'model: NAME' "
            "(python setup_reid_models.py --use NAME) or pass --reid NAME|PATH"
        )
    return config.model


# ---- adapters to ultralytics ------------------------------------------------------------------


class DetectionBatch:
    """The detections of one frame in the form ultralytics trackers read (like `Boxes.numpy()`)."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray):
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, dtype=np.float32).reshape(-1)
        self.cls = np.full(len(self.conf), HUMAN_CLASS, dtype=np.float32)

    @property
    def xywh(self) -> np.ndarray:
        centre = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        return np.concatenate([centre, self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, selection) -> "DetectionBatch":
        return DetectionBatch(self.xyxy[selection], self.conf[selection])


class AppearanceEncoder(Protocol):
    """What the tracker needs from a Re-ID model (mivolo.reid's encoders qualify): one unit-length
    `dim`-vector per box (xyxy pixels of the BGR frame), for every box, in order."""

    name: str
    dim: int

    def embed(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray: ...


class _BotSortEncoder:
    """BoT-SORT calls its encoder as `encoder(image, xywh_plus_index_rows) -> [feature per row]`."""

    def __init__(self, encoder: AppearanceEncoder):
        self.encoder = encoder

    def __call__(self, image: np.ndarray, rows: np.ndarray) -> List[np.ndarray]:
        centre, size = rows[:, :2], rows[:, 2:4]
        boxes_xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)
        embeddings = np.asarray(self.encoder.embed(image, boxes_xyxy), dtype=np.float32)
        if embeddings.shape != (len(rows), self.encoder.dim):
            raise MiVOLOError(
                f"Re-ID encoder {self.encoder.name!r} returned shape {embeddings.shape}, expected ({len(rows)}, {self.encoder.dim})"
            )
        return list(embeddings)


class DownscaledGMC:
    """ultralytics' GMC fed a grayscale frame at most GMC_MAX_WIDTH wide; the warp it finds is
    scaled back to full-resolution pixels (only the translation depends on the scale)."""

    def __init__(self, method: str, max_width: int = GMC_MAX_WIDTH):
        from ultralytics.trackers.utils.gmc import GMC

        self._gmc = GMC(method=method, downscale=1)
        self.method = self._gmc.method
        self.max_width = max_width

    def apply(self, frame: np.ndarray, detections: Optional[np.ndarray] = None) -> np.ndarray:
        height, width = frame.shape[:2]
        scale = min(1.0, self.max_width / width)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 and frame.shape[2] == 3 else frame
        if scale < 1.0:
            gray = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        boxes = None if detections is None else np.asarray(detections, dtype=np.float32) * scale
        warp = np.array(self._gmc.apply(gray.reshape(*gray.shape[:2], 1), boxes), dtype=np.float64)  # ultralytics reads H x W x C
        warp[:, 2] /= scale
        return warp

    def reset_params(self) -> None:
        self._gmc.reset_params()


def _ultralytics_tracker(config: TrackerConfig, reid_encoder: Optional[AppearanceEncoder]):
    from ultralytics.trackers.bot_sort import BOTSORT
    from ultralytics.trackers.byte_tracker import BYTETracker
    from ultralytics.utils import IterableSimpleNamespace

    keys = BOTSORT_KEYS if config.tracker_type == "botsort" else BYTETRACK_KEYS
    args = IterableSimpleNamespace(**{key: getattr(config, key) for key in keys})
    if config.tracker_type == "bytetrack":
        if reid_encoder is not None:
            raise MiVOLOError(f"{config.path}: Re-ID appearance matching needs BoT-SORT (tracker_type botsort)")
        return BYTETracker(args)
    if config.with_reid and reid_encoder is None:
        raise MiVOLOError(f"{config.path}: with_reid is true but no Re-ID encoder was given")
    # Built without Re-ID so that ultralytics loads no model of its own, then given ours.
    args.with_reid = False
    tracker = BOTSORT(args)
    tracker.gmc = DownscaledGMC(config.gmc_method)
    if reid_encoder is not None:
        tracker.encoder = _BotSortEncoder(reid_encoder)
        args.with_reid = True
        args.model = reid_encoder.name  # anything but "auto": BoT-SORT then hands the frame to the encoder
    return tracker


class PersonTracker:
    """Tracks humans frame by frame; each update returns the humans that have a confirmed ID."""

    def __init__(self, config: TrackerConfig, reid_encoder: Optional[AppearanceEncoder] = None):
        self.config = config
        self.reid_encoder = reid_encoder
        self._tracker = _ultralytics_tracker(config, reid_encoder)
        self._alive: Set[int] = set()

    def update(self, people: People, image: Optional[np.ndarray]) -> People:
        """The people that have a confirmed track, by track ID, with the track columns filled."""
        rows = self._tracker.update(DetectionBatch(people.tracking_xyxy, people.confidence), image)
        rows = sorted(rows, key=lambda row: int(row[4]))
        tracked = people[np.array([int(row[7]) for row in rows], dtype=np.int64)]
        track_ids = np.array([int(row[4]) for row in rows], dtype=np.int64)
        embeddings = self._current_embeddings()
        embedding = None
        if self.reid_encoder is not None and rows:
            missing = np.full(self.reid_encoder.dim, np.nan, np.float32)
            embedding = np.stack([embeddings.get(int(track_id), missing) for track_id in track_ids]).astype(np.float32)
        return tracked.with_columns(
            track_id=track_ids,
            track_xyxy=np.array([row[:4] for row in rows], dtype=np.float32).reshape(-1, 4),
            embedding=embedding,
        )

    def _current_embeddings(self):
        """Track ID -> the embedding of the detection it was matched with in the last update
        (BoT-SORT keeps it as `curr_feat`); empty without Re-ID."""
        if self.reid_encoder is None:
            return {}
        return {
            int(track.track_id): track.curr_feat
            for track in self._tracker.tracked_stracks
            if getattr(track, "curr_feat", None) is not None
        }

    def ended_track_ids(self) -> List[int]:
        """Tracks that left the tracker in the last update, each reported once.

        A track ends when it is in neither ultralytics' tracked nor lost list any more: removed
        after track_buffer frames, or dropped silently by its duplicate removal (a lost track
        overlapping a tracked one), which never lists it as removed.
        """
        alive = {int(t.track_id) for t in (*self._tracker.tracked_stracks, *self._tracker.lost_stracks)}
        ended = sorted(self._alive - alive)
        self._alive = alive
        return ended


def create_tracker(config: TrackerConfig, reid_encoder: Optional[AppearanceEncoder] = None) -> PersonTracker:
    """The tracker of `config`. With a `reid_encoder` (BoT-SORT only) appearance matching is on,
    whatever `with_reid` says; `with_reid: true` without an encoder is an error."""
    return PersonTracker(config, reid_encoder)
