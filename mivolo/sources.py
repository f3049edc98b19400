"""What the user's `--input` is: image files, a folder of them, or (see video I/O) a video source."""

from __future__ import annotations

from pathlib import Path
from typing import List

from mivolo.errors import MiVOLOError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def find_files(folder: Path, extensions) -> List[Path]:
    """Files under `folder` (recursive) whose extension is in `extensions`, case-insensitive, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in extensions)


def image_inputs(input_path: str) -> List[Path]:
    """The image files named by `--input` (one file, or a folder searched recursively)."""
    path = Path(input_path)
    if not path.exists():
        raise MiVOLOError(f"{path}: input not found")
    if path.is_dir():
        images = find_files(path, IMAGE_EXTENSIONS)
        if not images:
            raise MiVOLOError(f"{path}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
        return images
    if not is_image_path(path):
        raise MiVOLOError(f"{path}: not an image file (expected one of {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return [path]
