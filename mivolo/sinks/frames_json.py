"""--save-json: a video's per-frame JSON, `<name>_frames.json` (or --json-output-path).

One record per analysed frame, written at the end of the run from the run's frame log (only
tracks long enough to be reported; with global smoothing each person shows their track's final
answer). The record keeps the earlier fork's keys, spelt correctly, with an under-13 bucket:
`time`, `total_people`, `man`, `woman`, `age_<bucket>`, `people_data` (`id`, `gender`, `age`,
`cropped_img`, `location`), plus `version`, `frame`, `time_s` and each person's `gender_score`,
`gender_vote_share` and tracker `box`. When zones are declared, `zones` gives each zone's
occupancy in the frame, by gender and age bucket (mivolo.analytics.zone_summary.frame_occupancy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

from mivolo.analytics.zone_summary import frame_occupancy
from mivolo.core.record import FrameRecord
from mivolo.io.safe_output import atomic_path
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec
from mivolo.sinks.crops import CropNames, crop_names
from mivolo.sinks.values import AGE_BUCKETS, age_bucket, gender_word, relative_to, rounded, track_answer, track_boxes

FRAMES_JSON_VERSION = 2  # 1 was the earlier fork's list (misspelt keys, no under-13 bucket)


def format_time(seconds: float) -> str:
    return f"{round(seconds, 2)} sec"


def frame_record(
    frame: FrameRecord, frame_size, json_dir: Path, crops: Optional[CropNames], zone_names: Optional[List[str]] = None
) -> dict:
    """One element of the per-frame JSON; `zone_names`: the declared zones (None: no zones)."""
    people = frame.people
    answers = [track_answer(people, row) for row in range(len(people))]
    record = {
        "version": FRAMES_JSON_VERSION,
        "frame": frame.index,
        "time": format_time(frame.time_s),
        "time_s": round(frame.time_s, 3),
    }
    genders = [gender_word(gender) for _, gender, _, _ in answers]
    buckets = [age_bucket(age) for age, _, _, _ in answers]
    record["total_people"] = len(people)
    record["man"] = genders.count("man")
    record["woman"] = genders.count("woman")
    for name, _, _ in AGE_BUCKETS:
        record[name] = buckets.count(name)
    boxes, locations = track_boxes(people, frame_size), people.location
    data = []
    for row, (age, gender, score, share) in enumerate(answers):
        track_id = int(people.track_id[row])
        crop = None if crops is None else crops.shown(track_id, frame.index, int(people.track_frames[row]))
        data.append(
            {
                "id": track_id,
                "gender": gender_word(gender),
                "age": None if age is None else int(round(age)),
                "gender_score": rounded(score, 3),
                "gender_vote_share": rounded(share, 3),
                "cropped_img": relative_to(crop, json_dir),
                "location": [int(round(float(v))) for v in locations[row]],
                "box": [round(float(v), 1) for v in boxes[row]],
            }
        )
    record["people_data"] = data
    if zone_names is not None:
        record["zones"] = frame_occupancy(people, zone_names)
    return record


class FramesJson:
    needs_every_frame = False

    def __init__(self, target: Path, crops: Optional[CropNames]):
        self.target = Path(target)
        self.crops = crops

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        pass  # written from the run's frame log at the end, once the reported tracks are known

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        """Streamed one record at a time, so memory stays flat however long the video."""
        with atomic_path(self.target) as tmp, tmp.open("w") as handle:
            handle.write("[")
            zone_names = None if result.zones is None else result.zones.zone_names
            for count, frame in enumerate(result.frames()):
                record = frame_record(frame, result.info.frame_size, self.target.parent, self.crops, zone_names)
                handle.write(("," if count else "") + "\n" + json.dumps(record, indent=2, allow_nan=False))
            handle.write("\n]\n")
        return {"frames_json": self.target}


def _add_arguments(group) -> None:
    group.add_argument(
        "--save-json", action="store_true", help="videos: write the per-frame JSON (OUTPUT/<name>_frames.json)"
    )


def _build(options, plan: OutputPlan):
    if not options.save_json and plan.json_path is None:
        return None
    return FramesJson(plan.json_path or plan.path(f"{plan.name}_frames.json"), crop_names(options, plan))


SINK = SinkSpec(name="frames_json", runs=(VIDEO_RUN,), add_arguments=_add_arguments, build=_build)
