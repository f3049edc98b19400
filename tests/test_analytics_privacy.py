"""--blur-faces, --no-face-crops and --heatmap on hand-made frames (no models)."""

import cv2
import numpy as np

from mivolo.core.privacy import FACE_CELLS, blur_faces
from mivolo.core.record import FrameRecord, People
from mivolo.sinks.base import VIDEO_RUN, RunInfo, RunResult, RunStats
from mivolo.sinks.crops import CropNames, Crops
from mivolo.sinks.heatmap import Heatmap

FACE = (20, 10, 44, 34)  # a 24 x 24 face


def checkerboard(width=80, height=60) -> np.ndarray:
    """2-px black and white squares: as sharp as an image gets."""
    y, x = np.mgrid[0:height, 0:width]
    return np.repeat((((x // 2 + y // 2) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_a_blurred_face_keeps_no_detail_and_the_rest_is_untouched():
    image = checkerboard()
    blurred = blur_faces(image, np.array([FACE, [np.nan] * 4], np.float32))
    x1, y1, x2, y2 = FACE
    assert sharpness(blurred[y1:y2, x1:x2]) < sharpness(image[y1:y2, x1:x2]) / 100
    outside = np.ones(image.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(blurred[outside], image[outside])
    assert np.array_equal(image, checkerboard())  # a copy: the frame itself is kept for the other outputs
    # at most FACE_CELLS x FACE_CELLS colours' worth of information: a 6 x 6 downscale restores it
    cells = cv2.resize(blurred[y1:y2, x1:x2], (FACE_CELLS, FACE_CELLS), interpolation=cv2.INTER_AREA)
    assert np.abs(cv2.resize(cells, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR).astype(int) - blurred[y1:y2, x1:x2]).max() <= 40


def test_no_face_means_the_image_itself():
    image = checkerboard()
    assert blur_faces(image, np.full((1, 4), np.nan, np.float32)) is image


def tracked(**columns) -> People:
    n = len(columns["track_id"])
    return People.create(n, best_so_far=np.ones(n, bool), track_frames=np.ones(n, np.int64), **columns)


def test_body_only_crops_of_a_face_only_person_use_the_body_estimated_from_the_face(tmp_path):
    """Face 24 x 24 at (20, 10): the estimated body is 3 faces wide (72) and 7 tall (168) from
    half a face above it, clipped to the 80 x 60 frame as MiVOLO's crops are (to its last row, 59): x 0..68, y 0..59."""
    names = CropNames(tmp_path / "crops")
    people = tracked(face_xyxy=[FACE], track_id=[7])
    Crops(names, body_only=True, blur=True).write(FrameRecord(0, 0.0, checkerboard(), people))
    body_crop = cv2.imread(str(names.best(7)))
    assert body_crop.shape[:2] == (59, 68)
    x1, y1, x2, y2 = FACE  # the crop starts at (0, 0): the face sits where it is in the frame, blurred
    assert sharpness(body_crop[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2]) < sharpness(checkerboard()[y1:y2, x1:x2]) / 20
    face_crops = CropNames(tmp_path / "faces")
    Crops(face_crops).write(FrameRecord(0, 0.0, checkerboard(), people))
    assert cv2.imread(str(face_crops.best(7))).shape[:2] == (24, 24)  # without the flag: the face box


def test_the_heatmap_counts_each_persons_point_in_every_analysed_frame(tmp_path):
    heatmap = Heatmap(tmp_path / "heat.png", "bottom-center", blur=False)
    info = RunInfo(VIDEO_RUN, tmp_path, "v", {}, {}, fps=10.0, frame_size=(80, 60))
    heatmap.open(info)
    image = np.full((60, 80, 3), 90, np.uint8)
    standing = People.create(2, body_xyxy=[[10, 5, 20, 25], [50, 10, 70, 60]], track_id=[1, 2])
    for index in range(3):
        heatmap.write(FrameRecord(index, index / 10, image, standing))
    heatmap.write(FrameRecord(3, 0.3, image, standing, analysed=False))  # a frame only drawn: not counted
    # the second person's point (60, 60) is just below the frame: not counted
    assert heatmap.counts[25, 15] == 3 and heatmap.counts.sum() == 3
    written = heatmap.close(RunResult(info, RunStats()))["heatmap"]
    picture = cv2.imread(str(written))
    assert picture.shape == (60, 80, 3)
    assert not np.array_equal(picture[25, 15], image[25, 15]) and np.array_equal(picture[50, 75], image[50, 75])
