#!/usr/bin/env python
"""Ray's cost per video: the same short videos through demo.py in-process and with --engine ray
(1 and 2 workers) on a local Ray, with synthetic models (random weights in the public formats).

Per video, `seconds` is run_video's own time (in the process, or on the worker) and, for Ray,
`wall_seconds` the driver's time from handing the video out to its outputs in place: their
difference is Ray's overhead per video (scheduling, the call, staging and moving the outputs).
The fixed costs are starting Ray and starting the workers (loading the models once each). The
figures go to --results as JSON and are discussed in docs/ray.md.

    python benchmarks/fleet_overhead.py --videos 8 --frames 20 --cpus 2
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mivolo.cli import demo  # noqa: E402
from mivolo.devtools.synthetic import write_detector, write_figure_video, write_mivolo_checkpoint  # noqa: E402


def timed_run(args) -> float:
    started = time.perf_counter()
    code = demo.main([str(a) for a in args])
    if code != 0:
        raise SystemExit(f"demo.py exited with {code}")
    return time.perf_counter() - started


def video_seconds(out: Path, names):
    return {name: json.loads((out / f"{name}_summary.json").read_text())["run"]["seconds"] for name in names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=8, help="short videos in the folder (default 8)")
    parser.add_argument("--frames", type=int, default=20, help="frames per video (default 20)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs the local Ray may use (default 2)")
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).resolve().parent / "results" / "fleet_overhead_2cpu.json",
        help="where the figures go (default benchmarks/results/fleet_overhead_2cpu.json)",
    )  # fmt: skip
    options = parser.parse_args()

    import ray

    work = Path(tempfile.mkdtemp(prefix="fleet_overhead_"))
    videos = work / "videos"
    videos.mkdir()
    names = [f"clip{index}" for index in range(options.videos)]
    for index, name in enumerate(names):
        write_figure_video(videos / f"{name}.avi", frames=options.frames, size=(160, 120), fps=10.0, figures=2)
    detector = write_detector(work / "yolov8n_person_face.pt")
    checkpoint = write_mivolo_checkpoint(work / "mivolo_d1.pth.tar", seed=1)
    common = ["--input", videos, "--with-persons", "--device", "cpu", "--no-progress", "--detector-weights", detector,
              "--checkpoint", checkpoint, "--detector-imgsz", "64", "--save-json"]  # fmt: skip

    figures = {"videos": options.videos, "frames_per_video": options.frames, "cpus": options.cpus}
    local_out = work / "local"
    figures["local"] = {"wall_s": round(timed_run([*common, "--output", local_out]), 3)}
    local = video_seconds(local_out, names)
    figures["local"]["per_video_s"] = round(statistics.mean(local.values()), 3)

    started = time.perf_counter()
    ray.init(num_cpus=options.cpus, include_dashboard=False, log_to_driver=False)
    figures["ray_init_s"] = round(time.perf_counter() - started, 3)
    for workers in (1, 2):
        out = work / f"ray{workers}"
        wall = timed_run([*common, "--output", out, "--engine", "ray", "--workers", workers])
        entries = json.loads((out / "fleet_summary.json").read_text())["videos"]
        overheads = [entry["wall_seconds"] - entry["seconds"] for entry in entries]
        busy = sum(entry["wall_seconds"] for entry in entries) / workers
        figures[f"ray_{workers}_workers"] = {
            "wall_s": round(wall, 3),
            "per_video_s": round(statistics.mean(entry["seconds"] for entry in entries), 3),
            "overhead_per_video_s": round(statistics.mean(overheads), 3),
            "overhead_per_video_max_s": round(max(overheads), 3),
            # what the run cost beyond its workers' busy time: starting them (models loaded once each), the probe, the summary
            "fixed_s": round(wall - busy, 3),
            "fps": round(options.videos * options.frames / wall, 2),
        }
    ray.shutdown()
    figures["local"]["fps"] = round(options.videos * options.frames / figures["local"]["wall_s"], 2)
    options.results.parent.mkdir(parents=True, exist_ok=True)
    options.results.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"saved to {options.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
