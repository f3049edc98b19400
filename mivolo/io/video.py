"""Video in and out: OpenCV readers for files, streams and webcams (URLs resolved with yt-dlp),
a background prefetcher, and an annotated-video writer that always leaves a playable file.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

import mivolo.io.quiet_opencv  # noqa: F401  (OpenCV's own warnings would add lines to our one-line errors)
from mivolo.core.errors import MiVOLOError
from mivolo.io.safe_output import new_temp_path, promote
from mivolo.io.sources import VideoSource, VideoSourceKind

_logger = logging.getLogger("mivolo")

DEFAULT_STREAM_FPS = 25.0  # used when a stream or webcam does not report its rate
OUTPUT_FOURCC = "XVID"
OUTPUT_SUFFIX = ".avi"
PREFETCH_DEPTH = 4
MAX_UNREADABLE_IN_A_ROW = 30  # consecutive failed reads taken as the end of the source
# a network stream that does not answer for this long is dead (opening and each read)
STREAM_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float  # as reported by the source; DEFAULT_STREAM_FPS when it reports none
    frame_count: Optional[int]  # None for streams and webcams (unknown length)

    @property
    def is_stream(self) -> bool:
        return self.frame_count is None


@dataclass(frozen=True)
class FramePacket:
    """One frame of the source. `image` is None when the frame was only grabbed (not decoded) or
    when it could not be decoded (`corrupt`)."""

    index: int  # 0-based position in the source
    timestamp_s: float
    image: Optional[np.ndarray]
    corrupt: bool = False


@dataclass(frozen=True)
class ResolvedUrl:
    """A page URL (YouTube, ...) resolved by yt-dlp to one directly readable video stream."""

    stream_url: str
    title: str
    is_live: bool


def ytdlp_format(max_height: int) -> str:
    """One stream that carries video (OpenCV cannot merge separate audio and video), at most
    `max_height` lines tall where the site says the height; H.264 first because every OpenCV
    build decodes it."""
    return (
        f"bestvideo[height<=?{max_height}][vcodec^=avc1]/best[height<=?{max_height}][vcodec!=none]"
        f"/bestvideo[height<=?{max_height}]/best[height<=?{max_height}]/best"
    )


class _Silent:
    """yt-dlp's logger: it prints errors itself even when quiet; the error is reported once, by us."""

    def debug(self, message: str) -> None:
        pass

    info = warning = error = debug


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def one_line(message: str) -> str:
    """yt-dlp's error without its colours, `ERROR:` prefix and further lines."""
    lines = _ANSI_ESCAPE.sub("", message).replace("ERROR: ", "").strip().splitlines()
    return lines[0].strip() if lines else "unknown error"


def resolve_url(url: str, max_height: int) -> ResolvedUrl:
    """Ask yt-dlp (Python API, never a shell) for a single video stream of `url`."""
    import yt_dlp

    options = {
        "format": ytdlp_format(max_height),
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "skip_download": True,
        "logger": _Silent(),
        "socket_timeout": STREAM_TIMEOUT_MS / 1000,
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=False)
    except yt_dlp.utils.YoutubeDLError as exc:
        raise MiVOLOError(f"{url}: yt-dlp could not resolve a video stream: {one_line(str(exc))}") from None
    if info.get("_type") == "playlist":
        entries = [entry for entry in info.get("entries") or [] if entry]
        if not entries:
            raise MiVOLOError(f"{url}: this playlist has no playable entries")
        info = entries[0]
    stream_url = info.get("url")
    if not stream_url:
        raise MiVOLOError(f"{url}: yt-dlp found no single video stream (try a lower --max-height)")
    return ResolvedUrl(stream_url=stream_url, title=str(info.get("title") or url), is_live=bool(info.get("is_live")))


def open_capture(location: Union[str, int], kind: VideoSourceKind) -> cv2.VideoCapture:
    """Files and webcams with OpenCV's default backend; network streams with FFmpeg and
    STREAM_TIMEOUT_MS, so that a dead address fails in seconds instead of FFmpeg's default wait."""
    if kind in (VideoSourceKind.STREAM, VideoSourceKind.URL):
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        return cv2.VideoCapture(location, cv2.CAP_FFMPEG, timeouts)
    return cv2.VideoCapture(location)


class VideoReader:
    """Frames of one source, read with OpenCV. Frames that `should_decode` rejects are grabbed
    but not decoded (cheap with --skip-frames)."""

    def __init__(self, source: VideoSource, max_height: int = 1080):
        self.source = source
        location: Union[str, int] = source.location
        live = source.kind is VideoSourceKind.WEBCAM
        if source.kind is VideoSourceKind.URL:
            resolved = resolve_url(source.location, max_height)
            location, live = resolved.stream_url, resolved.is_live
            _logger.info("%s: yt-dlp resolved %r%s", source.location, resolved.title, " (live)" if live else "")
        elif source.kind is VideoSourceKind.WEBCAM:
            location = int(source.location)
        self.capture = open_capture(location, source.kind)
        if not self.capture.isOpened():
            raise MiVOLOError(f"{source.display_name}: cannot open this video source")
        width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        reported_fps = self.capture.get(cv2.CAP_PROP_FPS)
        fps = reported_fps if reported_fps and 0 < reported_fps < 1000 else DEFAULT_STREAM_FPS
        reported_count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        # a stream of a finite file reports its length; live streams and webcams report none (or junk)
        frame_count = None if live or reported_count <= 0 else reported_count
        if width <= 0 or height <= 0:
            self.capture.release()
            raise MiVOLOError(f"{source.display_name}: not a readable video (no frame size)")
        self.info = VideoInfo(width=width, height=height, fps=fps, frame_count=frame_count)

    def _timestamp(self, index: int, started: float) -> float:
        """The frame's presentation time from the container; for sources without one, the frame
        position at the nominal rate (files) or the wall clock (live streams)."""
        position_ms = self.capture.get(cv2.CAP_PROP_POS_MSEC)
        if position_ms > 0 or (index == 0 and position_ms == 0):
            return position_ms / 1000.0
        if self.info.is_stream:
            return time.monotonic() - started
        return index / self.info.fps

    def frames(self, should_decode: Callable[[int], bool]) -> Iterator[FramePacket]:
        """Every frame in order. A frame that cannot be read is yielded as `corrupt` once a later
        one reads again, timed between its neighbours; MAX_UNREADABLE_IN_A_ROW failures in a row
        mean the source has ended."""
        index = 0
        unreadable = 0
        started = time.monotonic()
        previous: Optional[float] = None  # the last frame's timestamp
        while unreadable < MAX_UNREADABLE_IN_A_ROW:
            if not self.capture.grab():
                unreadable += 1
                continue
            timestamp = self._timestamp(index + unreadable, started)
            for gap in range(1, unreadable + 1):  # the gap was corrupt frames, not the end
                if previous is None:
                    between = max(0.0, timestamp - (unreadable + 1 - gap) / self.info.fps)
                else:
                    between = previous + (timestamp - previous) * gap / (unreadable + 1)
                yield FramePacket(index, between, None, corrupt=True)
                index += 1
            unreadable = 0
            previous = timestamp
            if not should_decode(index):
                yield FramePacket(index, timestamp, None)
            else:
                ok, image = self.capture.retrieve()
                valid = ok and image is not None and image.shape[:2] == (self.info.height, self.info.width)
                yield FramePacket(index, timestamp, image if valid else None, corrupt=not valid)
            index += 1

    def close(self) -> None:
        self.capture.release()


def prefetch(frames: Iterator[FramePacket], depth: int = PREFETCH_DEPTH) -> Iterator[FramePacket]:
    """Decode ahead in a background thread (OpenCV releases the GIL while decoding).

    Stopping the consumer early stops the thread; a reader error is re-raised in the consumer.
    """
    buffer: "queue.Queue" = queue.Queue(maxsize=depth)
    stop = threading.Event()
    finished = object()

    def produce() -> None:
        try:
            for packet in frames:
                while not stop.is_set():
                    try:
                        buffer.put(packet, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item = finished
        except Exception as exc:  # handed to the consumer, which re-raises it
            item = exc
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    worker = threading.Thread(target=produce, name="video-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is finished:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def frame_count(path: Path) -> int:
    """The frames a video file's container holds, as OpenCV reads its index."""
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()


class AnnotatedVideoWriter:
    """Writes to a new hidden file with a unique name next to the target (nothing planted under
    a predictable name can redirect it) and renames it on `close` only once the video is proven
    complete: OpenCV accepted every frame and the closed file holds them all. So the output
    folder only ever holds a complete, playable video; a full disk is a MiVOLOError and leaves
    no video. `close` is safe to call twice."""

    def __init__(self, target: Path, fps: float, frame_size: Tuple[int, int]):
        self.target = Path(target)
        self.size = tuple(frame_size)
        self.partial = new_temp_path(self.target)
        self.writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*OUTPUT_FOURCC), fps, self.size)
        if not self.writer.isOpened():
            self.partial.unlink(missing_ok=True)
            raise MiVOLOError(f"{self.target}: cannot create the output video ({OUTPUT_FOURCC})")
        self.frames_written = 0
        self.last_frame: Optional[np.ndarray] = None
        self.closed_as: Optional[Path] = None

    def _fail(self, reason: str) -> None:
        """Drop the partial video and say why, in one line."""
        if shutil.disk_usage(self.partial.parent).free < 2**20:
            reason += " (no space left on the device)"
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        self.partial.unlink(missing_ok=True)
        raise MiVOLOError(f"{self.target}: not written: {reason}")

    def write(self, frame: np.ndarray) -> None:
        # OpenCV 5 returns False for a frame it could not write (4.x returns None: `close` checks)
        if self.writer.write(frame) is False:
            self._fail(f"OpenCV could not write frame {self.frames_written + 1}")
        self.last_frame = frame
        self.frames_written += 1

    def repeat_last(self) -> None:
        """Stand-in for a frame that could not be decoded, so the video keeps its duration."""
        self.write(
            self.last_frame if self.last_frame is not None else np.zeros((self.size[1], self.size[0], 3), np.uint8)
        )

    def close(self) -> Optional[Path]:
        """Release the writer; return the finished video, or None when no frame was written (or a
        write failed)."""
        if self.writer is None:
            return self.closed_as
        self.writer.release()
        self.writer = None
        if self.frames_written == 0:
            self.partial.unlink(missing_ok=True)
            return None
        found = frame_count(self.partial)
        if found != self.frames_written:
            self._fail(f"the closed file holds {found} of its {self.frames_written} frames")
        self.closed_as = promote(self.partial, self.target)
        return self.closed_as


class BackgroundVideoWriter:
    """Draws and encodes in a worker thread, in submission order, so the analysis goes on meanwhile.

    `write(render)` queues a callable that returns the frame to encode (e.g. the overlay drawn
    on the image); `repeat_last()` queues a repeat of the previous frame. An error in the worker
    is raised in the caller on its next call or on `close`.
    """

    def __init__(self, writer: AnnotatedVideoWriter, clock=None, depth: int = PREFETCH_DEPTH * 2):
        self.writer = writer
        self.clock = clock
        self._queue: "queue.Queue" = queue.Queue(maxsize=depth)
        self._error: Optional[BaseException] = None
        self._failed = False  # stays set: after a failure no frame is written
        self.failure: Optional[BaseException] = None
        self._worker = threading.Thread(target=self._work, name="video-writer", daemon=True)
        self._worker.start()

    def _timed(self, stage: str):
        return self.clock(stage) if self.clock is not None else contextlib.nullcontext()

    def _work(self) -> None:
        while True:
            render = self._queue.get()
            if render is None:
                return
            if self._failed:
                continue  # drain after a failure so that the producer never blocks
            try:
                if render is _REPEAT:
                    with self._timed("encode"):
                        self.writer.repeat_last()
                    continue
                with self._timed("draw"):
                    frame = render()
                with self._timed("encode"):
                    self.writer.write(frame)
            except BaseException as exc:  # handed to the producer
                self._error, self._failed = exc, True

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def write(self, render: Callable[[], np.ndarray]) -> None:
        self._raise_pending()
        self._queue.put(render)

    def repeat_last(self) -> None:
        self._raise_pending()
        self._queue.put(_REPEAT)

    def close(self) -> Optional[Path]:
        """Finish the queued frames, then close the video (see AnnotatedVideoWriter.close). A
        failure of the worker stays in `failure` for the caller to raise once its outputs are saved."""
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join()
        self.failure, self._error = self._error, None
        return self.writer.close()


_REPEAT = object()
