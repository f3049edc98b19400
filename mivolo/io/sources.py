"""What the user's `--input` is: image files, video files, a folder of either, a stream URL,
a webcam index, or a page URL (YouTube, ...) that yt-dlp resolves to a stream."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterable, List
from urllib.parse import parse_qsl, urlparse

from mivolo.core.errors import MiVOLOError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
# URLs OpenCV opens itself; any other http(s) URL is a page for yt-dlp to resolve
DIRECT_STREAM_SCHEMES = {"rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt"}
DIRECT_STREAM_EXTENSIONS = VIDEO_EXTENSIONS | {".m3u8", ".mjpg", ".mjpeg", ".mpd"}
URL_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class VideoSourceKind(Enum):
    FILE = "file"
    STREAM = "stream"  # a URL OpenCV reads directly (rtsp, http link to a video file or playlist)
    URL = "url"  # a page URL that yt-dlp resolves to a stream
    WEBCAM = "webcam"


@dataclass(frozen=True)
class VideoSource:
    kind: VideoSourceKind
    location: str  # path, URL or webcam index
    name: str  # safe stem for output file names

    @property
    def display_name(self) -> str:
        return self.location if self.kind is not VideoSourceKind.WEBCAM else f"webcam {self.location}"


@dataclass
class Inputs:
    images: List[Path] = field(default_factory=list)
    videos: List[VideoSource] = field(default_factory=list)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def find_files(folder: Path, extensions, exclude: Iterable[Path] = ()) -> List[Path]:
    """Files under `folder` (recursive) whose extension is in `extensions`, case-insensitive,
    sorted; sub-folders that resolve to one of `exclude` are not searched."""
    skipped = {Path(path).resolve() for path in exclude}
    found = []
    for parent, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if (Path(parent) / name).resolve() not in skipped]
        found += [Path(parent) / name for name in files if Path(name).suffix.lower() in extensions]
    return sorted(path for path in found if path.is_file())


def safe_name(text: str) -> str:
    """A file-name stem made only of letters, digits, '-', '_' and '.'."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned[:80] or "video"


def url_source(url: str) -> VideoSource:
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    # page URLs often share a path (YouTube's /watch); the query (?v=...) tells them apart
    query_values = [value for _, value in parse_qsl(parsed.query)]
    stem = safe_name("_".join([Path(parsed.path).stem or parsed.netloc, *query_values]))
    if scheme in DIRECT_STREAM_SCHEMES:
        return VideoSource(VideoSourceKind.STREAM, url, stem)
    if scheme in ("http", "https"):
        direct = Path(parsed.path).suffix.lower() in DIRECT_STREAM_EXTENSIONS
        return VideoSource(VideoSourceKind.STREAM if direct else VideoSourceKind.URL, url, stem)
    raise MiVOLOError(f"{url}: unsupported URL scheme {scheme!r} (use http, https, rtsp, rtmp, udp, tcp or srt)")


def distinct_names(stems: Iterable[str]) -> List[str]:
    """The stems, made distinct in order (`a`, `a_1`, ...): files with the same name in different
    sub-folders get distinct outputs."""
    names, used = [], set()
    for stem in stems:
        name, n = stem, 1
        while name in used:
            name, n = f"{stem}_{n}", n + 1
        used.add(name)
        names.append(name)
    return names


def file_sources(paths: List[Path]) -> List[VideoSource]:
    """Video files as sources, with distinct output names even for equal stems in sub-folders."""
    names = distinct_names(safe_name(path.stem) for path in paths)
    return [VideoSource(VideoSourceKind.FILE, str(path), name) for path, name in zip(paths, names)]


def image_names(images: List[Path]) -> List[str]:
    """Each image's stem for its output files (`out_<name>.jpg`, its crops), distinct in the run."""
    return distinct_names(path.stem for path in images)


def resolve_inputs(text: str, exclude: Iterable[Path] = ()) -> Inputs:
    """Everything `--input` names. Raises MiVOLOError with the reason when it names nothing usable.

    A folder is searched recursively, except for the sub-folders in `exclude`: the run's own
    output folders, so that one run's outputs are never read back as the next run's inputs.
    (An output folder that is the input folder itself cannot be left out; there an output that
    would overwrite an input is refused, see mivolo.io.safe_output.check_outputs_spare_inputs.)"""
    if URL_PATTERN.match(text):
        return Inputs(videos=[url_source(text)])
    path = Path(text)
    if not path.exists():
        if text.isdigit():
            return Inputs(videos=[VideoSource(VideoSourceKind.WEBCAM, text, f"webcam{text}")])
        raise MiVOLOError(f"{path}: input not found")
    if path.is_dir():
        inputs = Inputs(
            images=find_files(path, IMAGE_EXTENSIONS, exclude),
            videos=file_sources(find_files(path, VIDEO_EXTENSIONS, exclude)),
        )
        if not inputs.images and not inputs.videos:
            known = ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
            raise MiVOLOError(f"{path}: no images or videos found (looked for {known})")
        return inputs
    if is_image_path(path):
        return Inputs(images=[path])
    if is_video_path(path):
        return Inputs(videos=file_sources([path]))
    known = ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
    raise MiVOLOError(f"{path}: not an image or video file (expected one of {known})")
