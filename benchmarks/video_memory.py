#!/usr/bin/env python
"""CPU memory (RSS) over a long run of the video loop: it must stay flat (run it for 1k and 10k).

The real decode (prefetch thread), tracker (BoT-SORT), aggregation, drawing and encoding (writer
thread), per-frame JSON, crops and MOT export run on every frame; the detector and MiVOLO are
replaced by a cheap colour detector and fixed ages, whose memory does not grow with the video,
so thousands of frames fit in minutes on a CPU. RSS is sampled every --every frames; the
growth from the first sample after warm-up (10% of the run) to the end is printed.

With --analytics the run also has two zones and a line (mivolo.analytics), the events file,
the people CSV and the HTML report, to measure what they cost in speed and memory.

    python benchmarks/video_memory.py --frames 1000
    python benchmarks/video_memory.py --frames 10000
    python benchmarks/video_memory.py --frames 10000 --analytics
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mivolo.jobs.pipeline import PipelineSettings  # noqa: E402
from mivolo.io.sources import resolve_inputs  # noqa: E402
from mivolo.core.record import people_from_detections  # noqa: E402
from mivolo.devtools.synthetic import write_figure_video  # noqa: E402
from mivolo.tracking.tracker import load_tracker_config  # noqa: E402
from mivolo.jobs.video_job import VideoJobSettings, run_video  # noqa: E402
from mivolo.sinks.registry import output_options  # noqa: E402


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class ColourDetector:
    """Bodies = saturated blobs, faces = skin-coloured blobs of `mivolo.devtools.synthetic.figure_frame`;
    records the process RSS every `every` frames."""

    def __init__(self, every: int):
        self.every = every
        self.frames = 0
        self.samples = []  # (frame, RSS MiB)

    def detect_people(self, images):
        return [self._detect(image) for image in images]

    def _detect(self, image):
        if self.frames % self.every == 0:
            self.samples.append((self.frames, current_rss_mib()))
        self.frames += 1
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        boxes, labels = [], []
        for label, mask in (("person", hsv[..., 1] > 120), ("face", (hsv[..., 1] > 40) & (hsv[..., 1] <= 120))):
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for contour in contours:
                x, y, w, h = cv2.boundingRect(contour)
                if w * h >= 50:
                    boxes.append([x, y, x + w, y + h])
                    labels.append(label)
        return people_from_detections(boxes, labels, [0.9] * len(boxes))


class FixedAges:
    """MiVOLO's batch interface (prepare -> inference -> fill) with fixed answers."""

    def prepare(self, image, people, due=None):
        rows = [row for row in range(len(people)) if due is None or due[row]]
        return (torch.zeros((len(rows), 1)) if rows else None), rows

    def inference(self, model_input):
        return model_input

    def fill(self, output, people, rows):
        rows = np.array(rows, np.int64)
        return people.with_columns(
            age=30.0 + rows, gender=rows % 2, gender_score=np.full(len(rows), 0.8),
            face_estimated=people.has_face, body_estimated=people.has_body,
        )


# the figures walk across the frame: both halves and the line between them see traffic
ANALYTICS = dict(
    zone=["left:0,0,0.5,0,0.5,1,0,1", "right:0.5,0,1,0,1,1,0.5,1"],
    line=["middle:0.5,0,0.5,1"],
    people_csv=True,
    report=True,
)


class ScriptedPredictor:
    def __init__(self, every: int):
        self.detector = ColourDetector(every)
        self.age_gender_model = FixedAges()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--figures", type=int, default=3)
    parser.add_argument("--every", type=int, default=500, help="RSS sample interval in frames (default 500)")
    parser.add_argument(
        "--analytics", action="store_true", help="also zones, a line, the events file, the people CSV and the report"
    )
    args = parser.parse_args()
    analytics = ANALYTICS if args.analytics else {}
    with tempfile.TemporaryDirectory() as folder:
        video = write_figure_video(
            Path(folder) / "long.mp4", frames=args.frames, size=(320, 240), fps=25.0, figures=args.figures
        )
        settings = VideoJobSettings(
            output_dir=Path(folder) / "out",
            tracker=load_tracker_config("botsort.yaml"),
            outputs=output_options(draw=True, save_json=True, save_crops=True, crop_every=100, **analytics),
            progress=False,
            pipeline=PipelineSettings(threaded_writer=True),
        )
        settings.output_dir.mkdir()
        predictor = ScriptedPredictor(args.every)
        started = time.perf_counter()
        result = run_video(predictor, resolve_inputs(str(video)).videos[0], settings)
        seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    samples = predictor.detector.samples + [(result.stats.frames_read, current_rss_mib())]
    print("frame  RSS MiB")
    for frame, rss in samples:
        print(f"{frame:>5}  {rss:7.1f}")
    warm = next((rss for frame, rss in samples if frame >= args.frames // 10), samples[0][1])
    print(
        f"frames {result.stats.frames_read}, people {result.unique_people}, {seconds:.1f} s "
        f"({result.stats.fps:.1f} FPS), peak RSS {peak_mib:.1f} MiB, "
        f"growth after warm-up {samples[-1][1] - warm:+.1f} MiB"
    )
    print(f"ms per frame by stage: {result.stats.stage_ms_per_frame()}")


if __name__ == "__main__":
    main()
