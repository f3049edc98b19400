"""`<name>_mot.txt`, always: the run's tracks in the MOTChallenge format,
`frame,id,x,y,w,h,conf,-1,-1,-1` (1-based frames, the tracker's box clipped to the frame), for
the tracks long enough to be reported, written at the end from the run's frame log."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from mivolo.core.record import FrameRecord
from mivolo.io.safe_output import atomic_path
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec
from mivolo.sinks.values import track_boxes


def mot_lines(frame: FrameRecord, frame_size) -> List[str]:
    people = frame.people
    lines = []
    for row, box in enumerate(track_boxes(people, frame_size)):
        x1, y1, x2, y2 = (float(v) for v in box)
        conf = float(people.confidence[row])
        lines.append(f"{frame.index + 1},{int(people.track_id[row])},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{conf:.4f},-1,-1,-1\n")
    return lines


class MotFile:
    needs_every_frame = False

    def __init__(self, target: Path):
        self.target = Path(target)

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        pass  # written from the run's frame log at the end, once the reported tracks are known

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        with atomic_path(self.target) as tmp, tmp.open("w") as handle:
            for frame in result.frames():
                handle.writelines(mot_lines(frame, result.info.frame_size))
        return {"mot": self.target}


def _build(options, plan: OutputPlan):
    return MotFile(plan.path(f"{plan.name}_mot.txt"))


SINK = SinkSpec(name="mot", runs=(VIDEO_RUN,), add_arguments=lambda group: None, build=_build)
