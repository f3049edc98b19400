"""What `pip install -e ".[test]"` leaves in the environment."""

from importlib import metadata
from pathlib import Path

import cv2

OPENCV_DISTRIBUTIONS = (
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)


def test_exactly_one_opencv_package_provides_cv2():
    """Two OpenCV wheels write into the same cv2/ folder and break each other on upgrade; the
    project settles on opencv-python (what ultralytics requires), and cv2 must be its files."""
    installed = []
    for name in OPENCV_DISTRIBUTIONS:
        try:
            installed.append(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue
    names = [dist.metadata["Name"] for dist in installed]
    assert names == ["opencv-python"]
    opencv = installed[0]
    cv2_files = {Path(opencv.locate_file(f)).resolve() for f in opencv.files if f.name == "__init__.py"}
    assert Path(cv2.__file__).resolve() in cv2_files
