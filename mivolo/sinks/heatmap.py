"""--heatmap: `<name>_heatmap.png`, where people stood over a video: every tracked person's point
(the zones' anchor, default the bottom centre of the body) in every analysed frame, counted on a
grid, smoothed and coloured over the first analysed frame (its faces blurred with --blur-faces).

The counts are a grid as large as the frame, added to frame by frame: memory stays flat.
supervision's HeatMapAnnotator renders the whole frame on every call; this renders once."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from mivolo.analytics.anchors import anchor_points, person_boxes
from mivolo.analytics.zones import DEFAULT_ANCHOR, zone_set_of
from mivolo.core.privacy import blur_faces
from mivolo.core.record import FrameRecord
from mivolo.io.safe_output import write_image_atomic
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec

HEAT_OPACITY = 0.6


class Heatmap:
    needs_every_frame = False

    def __init__(self, target: Path, anchor: str, blur: bool):
        self.target = Path(target)
        self.anchor = anchor
        self.blur = blur
        self.counts: Optional[np.ndarray] = None  # H x W: anchor points per pixel
        self.background: Optional[np.ndarray] = None

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        width, height = info.frame_size
        self.counts = np.zeros((height, width), np.float32)

    def write(self, frame: FrameRecord) -> None:
        if not frame.analysed or frame.corrupt:
            return
        if self.background is None:
            self.background = blur_faces(frame.image, frame.people.face_xyxy) if self.blur else frame.image.copy()
        height, width = self.counts.shape
        points = np.round(anchor_points(person_boxes(frame.people), self.anchor)).astype(np.int64)
        points = points[(points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)]
        np.add.at(self.counts, (points[:, 1], points[:, 0]), 1.0)

    def image(self) -> np.ndarray:
        """The background with the smoothed counts coloured over it (blue few, red most)."""
        import cv2

        height, width = self.counts.shape
        background = self.background if self.background is not None else np.zeros((height, width, 3), np.uint8)
        sigma = max(2.0, min(height, width) / 40)  # a person's footprint, whatever the resolution
        heat = cv2.GaussianBlur(self.counts, (0, 0), sigma)
        if heat.max() <= 0:
            return background.copy()
        scaled = np.uint8(255 * heat / heat.max())
        coloured = cv2.applyColorMap(scaled, cv2.COLORMAP_JET)
        alpha = (HEAT_OPACITY * np.clip(heat / (0.05 * heat.max()), 0, 1))[..., None]  # clear where nobody stood
        return np.uint8(background * (1 - alpha) + coloured * alpha)

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        return {"heatmap": write_image_atomic(self.target, self.image())}


def _add_arguments(group) -> None:
    group.add_argument(
        "--heatmap",
        action="store_true",
        help="videos: also write OUTPUT/<name>_heatmap.png, where people stood over the run, over a frame of the video",
    )


def _build(options, plan: OutputPlan):
    if not options.heatmap:
        return None
    zones = zone_set_of(options)
    anchor = options.anchor or (zones.anchor if zones is not None else DEFAULT_ANCHOR)
    return Heatmap(plan.path(f"{plan.name}_heatmap.png"), anchor, options.blur_faces)


SINK = SinkSpec(name="heatmap", runs=(VIDEO_RUN,), add_arguments=_add_arguments, build=_build)
