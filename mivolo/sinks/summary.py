"""`<name>_summary.json`, always: one entry per reported person and the run's totals.

Per person: id, first and last seen, frames seen, final age with its spread, gender with
`gender_score` and `gender_vote_share`, age bucket and best crop. Per run: unique people, the
gender split, the age-bucket histogram, peak concurrent people, frames read / analysed /
undecodable, time, FPS, whether the source was read to its end, per-stage ms and peak memory.
With zones or lines declared, each person also has `zones_visited`, `dwell_s` per zone,
`zone_visits` (entry, exit, dwell) and `line_crossings` (line, direction, time), and the run has
`zones` (unique visitors, mean and median dwell, peak occupancy and its time) and `lines` (in and
out counts), each split `by_gender` and `by_age_bucket` (mivolo.analytics.zone_summary).
`outputs` always names the video, frames JSON, MOT file and crops folder (null when not
written), then any other output of the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from mivolo.core.record import FrameRecord
from mivolo.io.safe_output import write_json_atomic
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec
from mivolo.sinks.crops import crop_names
from mivolo.sinks.values import AGE_BUCKETS, age_bucket, gender_word, relative_to, rounded

SUMMARY_JSON_VERSION = 1
ALWAYS_LISTED_OUTPUTS = ("video", "frames_json", "mot", "crops_dir")


def person_summary(track, summary_dir: Path, best_crop: Optional[Path]) -> dict:
    estimate = track.estimate()
    return {
        "id": track.track_id,
        "first_seen_s": round(track.first_seen_s, 3),
        "last_seen_s": round(track.last_seen_s, 3),
        "frames_seen": track.frames_seen,
        "age": rounded(estimate.age, 2),
        "age_spread": rounded(track.spread.std, 2),
        "gender": gender_word(estimate.gender),
        "gender_score": rounded(estimate.gender_score, 3),
        "gender_vote_share": rounded(estimate.gender_vote_share, 3),
        "age_bucket": age_bucket(estimate.age),
        "best_crop": relative_to(best_crop, summary_dir),
    }


def people_entries(result: RunResult, folder: Path, crops) -> List[dict]:
    """The summary's entry for each reported person (with their zones and lines when declared)."""
    people = []
    for track in result.tracks:
        person = person_summary(track, folder, None if crops is None else crops.best(track.best_crop_track))
        if result.zones is not None:
            person.update(result.zones.person_entry(track.track_id))
        people.append(person)
    return people


class Summary:
    needs_every_frame = False

    def __init__(self, target: Path, crops):
        self.target = Path(target)
        self.crops = crops

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        pass

    def document(self, result: RunResult) -> dict:
        folder, stats = self.target.parent, result.stats
        people = people_entries(result, folder, self.crops)
        genders = [p["gender"] for p in people]
        buckets = [p["age_bucket"] for p in people]
        outputs = {name: None for name in ALWAYS_LISTED_OUTPUTS}
        outputs.update(result.outputs)
        document = {
            "version": SUMMARY_JSON_VERSION,
            "source": result.info.source,
            "settings": result.info.settings,
            "run": {
                "unique_people": len(people),
                "gender": {"man": genders.count("man"), "woman": genders.count("woman"), "unknown": genders.count(None)},
                "age_buckets": {name: buckets.count(name) for name, _, _ in AGE_BUCKETS},
                "peak_concurrent_people": result.figures().peak_concurrent,
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
            "outputs": {name: relative_to(path, folder) for name, path in outputs.items()},
        }
        if result.zones is not None:
            document["run"]["zones"] = result.zones.zones
            document["run"]["lines"] = result.zones.lines
        return document

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        write_json_atomic(self.target, self.document(result))
        return {"summary_json": self.target}


def _build(options, plan: OutputPlan):
    return Summary(plan.path(f"{plan.name}_summary.json"), crop_names(options, plan))


# closes last: it lists what the other outputs wrote
SINK = SinkSpec(name="summary", runs=(VIDEO_RUN,), add_arguments=lambda group: None, build=_build, order=100)
