#!/usr/bin/env python
"""Peak RSS of the video loop on a generated video of N frames (run it for 1k and 10k).

The real decode, tracker (BoT-SORT), aggregation, drawing, per-frame JSON, crops and MOT export
run on every frame; the detector and MiVOLO are replaced by a cheap colour detector and fixed
ages, whose memory does not grow with the video, so thousands of frames fit in minutes on a CPU.

    python benchmarks/video_memory.py --frames 1000
    python benchmarks/video_memory.py --frames 10000
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mivolo.sources import resolve_inputs  # noqa: E402
from mivolo.structures import PersonAndFaceResult  # noqa: E402
from mivolo.synthetic import write_figure_video  # noqa: E402
from mivolo.tracking import load_tracker_config  # noqa: E402
from mivolo.video_job import VideoJobSettings, run_video  # noqa: E402


class ColourDetector:
    """Bodies = saturated blobs, faces = skin-coloured blobs of `mivolo.synthetic.figure_frame`."""

    def predict(self, image):
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        boxes, labels = [], []
        for label, mask in (("person", hsv[..., 1] > 120), ("face", (hsv[..., 1] > 40) & (hsv[..., 1] <= 120))):
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for contour in contours:
                x, y, w, h = cv2.boundingRect(contour)
                if w * h >= 50:
                    boxes.append([x, y, x + w, y + h])
                    labels.append(label)
        return PersonAndFaceResult.from_boxes(image, boxes, labels, [0.9] * len(boxes))


class FixedAges:
    def predict(self, image, detections):
        for index in range(detections.n_objects):
            detections.set_age(index, 30.0 + index)
            detections.set_gender(index, "female" if index % 2 else "male", 0.8)


class ScriptedPredictor:
    detector = ColourDetector()
    age_gender_model = FixedAges()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--figures", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        video = write_figure_video(
            Path(folder) / "long.mp4", frames=args.frames, size=(320, 240), fps=25.0, figures=args.figures
        )
        settings = VideoJobSettings(
            output_dir=Path(folder) / "out",
            tracker=load_tracker_config("botsort.yaml"),
            draw=True,
            save_json=True,
            save_crops=True,
            crop_every=100,
            progress=False,
        )
        settings.output_dir.mkdir()
        started = time.perf_counter()
        result = run_video(ScriptedPredictor(), resolve_inputs(str(video)).videos[0], settings)
        seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"frames {result.stats.frames_read}, people {result.unique_people}, {seconds:.1f} s "
        f"({result.stats.fps:.1f} FPS), peak RSS {peak_mib:.1f} MiB"
    )


if __name__ == "__main__":
    main()
