"""Video inputs: what --input names, reading (timestamps, skipped and corrupt frames), prefetch,
the writer, and page URLs resolved by yt-dlp against a loopback HTTP server."""

import http.server
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from mivolo.core.errors import MiVOLOError
from mivolo.io.sources import VideoSource, VideoSourceKind, resolve_inputs
from mivolo.devtools.synthetic import figure_frame, write_figure_video
from mivolo.io.video import AnnotatedVideoWriter, VideoInfo, VideoReader, prefetch, resolve_url


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 frames, 160x120, 10 fps."""
    return write_figure_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=12, size=(160, 120), fps=10.0)


def read_all(source, decode=lambda index: True):
    reader = VideoReader(source)
    try:
        return reader.info, list(reader.frames(decode))
    finally:
        reader.close()


# ---- --input ----------------------------------------------------------------------------------------


def test_inputs_files_folders_and_webcam(tmp_path, clip):
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "sub").mkdir()
    for name in ("sub/clip.mp4", "clip.MOV"):
        (tmp_path / name).write_bytes(clip.read_bytes())
    (tmp_path / "notes.txt").write_text("x")

    assert resolve_inputs(str(image)).images == [image]
    folder = resolve_inputs(str(tmp_path))
    assert folder.images == [image]
    assert [(v.kind, Path(v.location).name, v.name) for v in folder.videos] == [
        (VideoSourceKind.FILE, "clip.MOV", "clip"),
        (VideoSourceKind.FILE, "clip.mp4", "clip_1"),  # same stem, distinct outputs
    ]
    assert resolve_inputs("0").videos == [VideoSource(VideoSourceKind.WEBCAM, "0", "webcam0")]


@pytest.mark.parametrize(
    "url, kind, name",
    [
        ("rtsp://10.0.0.2:554/live/cam1", VideoSourceKind.STREAM, "cam1"),
        ("http://host/videos/street.mp4", VideoSourceKind.STREAM, "street"),
        ("https://host/live/index.m3u8", VideoSourceKind.STREAM, "index"),
        ("https://www.youtube.com/watch?v=abc-9_X", VideoSourceKind.URL, "watch_abc-9_X"),
    ],
)
def test_url_kinds(url, kind, name):
    (source,) = resolve_inputs(url).videos
    assert (source.kind, source.location, source.name) == (kind, url, name)


@pytest.mark.parametrize(
    "text, message",
    [
        ("missing.mp4", "input not found"),
        ("ftp://host/a.mp4", "unsupported URL scheme"),
        ("notes.txt", "not an image or video"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(MiVOLOError, match=message):
        resolve_inputs(text)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(MiVOLOError, match="no images or videos"):
        resolve_inputs(str(tmp_path))


# ---- reading ---------------------------------------------------------------------------------------


def test_reader_info_timestamps_and_grab_only_frames(clip):
    info, packets = read_all(resolve_inputs(str(clip)).videos[0], decode=lambda index: index % 3 == 0)
    assert info == VideoInfo(width=160, height=120, fps=10.0, frame_count=12)
    assert [p.index for p in packets] == list(range(12))
    assert [p.timestamp_s for p in packets] == pytest.approx([i / 10 for i in range(12)])
    assert [p.image is not None for p in packets] == [i % 3 == 0 for i in range(12)]
    assert not any(p.corrupt for p in packets)


def test_corrupt_frame_is_reported_and_reading_goes_on(tmp_path):
    video = write_figure_video(tmp_path / "bad.avi", frames=6, size=(160, 120))  # MJPEG: one JPEG per frame
    data = bytearray(video.read_bytes())
    jpeg_starts = [m.start() for m in re.finditer(b"\xff\xd8\xff", bytes(data))]
    assert len(jpeg_starts) == 6
    data[jpeg_starts[3] : jpeg_starts[3] + 400] = bytes(400)
    video.write_bytes(bytes(data))
    _, packets = read_all(resolve_inputs(str(video)).videos[0])
    assert [p.index for p in packets] == list(range(6))
    assert [p.corrupt for p in packets] == [False, False, False, True, False, False]
    assert packets[3].image is None and packets[4].image is not None


def test_prefetch_keeps_order_stops_early_and_reraises():
    assert [x for x in prefetch(iter(range(50)), depth=2)] == list(range(50))

    produced = []

    def counting():
        for i in range(1000):
            produced.append(i)
            yield i

    stream = prefetch(counting(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # the producer thread stops instead of reading the whole source
    assert len(produced) < 10

    def failing():
        yield 1
        raise ValueError("decoder broke")

    with pytest.raises(ValueError, match="decoder broke"):
        list(prefetch(failing()))


def test_writer_renames_only_a_finished_video(tmp_path):
    info = VideoInfo(width=160, height=120, fps=10.0, frame_count=None)
    empty = AnnotatedVideoWriter(tmp_path / "empty.avi", info.fps, (info.width, info.height))
    assert empty.close() is None and list(tmp_path.iterdir()) == []

    writer = AnnotatedVideoWriter(tmp_path / "out.avi", info.fps, (info.width, info.height))
    for index in range(4):
        writer.write(figure_frame(index, (160, 120)))
    writer.repeat_last()
    assert not (tmp_path / "out.avi").exists()  # still the hidden partial file
    assert writer.close() == tmp_path / "out.avi"
    assert writer.close() == tmp_path / "out.avi"  # idempotent
    assert [p.name for p in tmp_path.iterdir()] == ["out.avi"]
    capture = cv2.VideoCapture(str(tmp_path / "out.avi"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and capture.get(cv2.CAP_PROP_FPS) == 10.0


# ---- page URLs through yt-dlp, against a loopback server ---------------------------------------------


class VideoHandler(http.server.BaseHTTPRequestHandler):
    """Serves one file at any path as video/mp4, with byte ranges (FFmpeg seeks in mp4)."""

    payload = b""

    def _send(self, with_body):
        data, start, end = self.payload, 0, len(self.payload) - 1
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else end
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if with_body:
            try:
                self.wfile.write(data[start : end + 1])
            except (BrokenPipeError, ConnectionResetError):
                pass

    def do_GET(self):
        self._send(True)

    def do_HEAD(self):
        self._send(False)

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback_url(clip):
    handler = type("ClipHandler", (VideoHandler,), {"payload": clip.read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_ytdlp_resolves_a_page_url_and_opencv_reads_it(loopback_url):
    page = loopback_url + "/watch/street-scene"
    resolved = resolve_url(page, max_height=720)
    assert resolved.stream_url.startswith("http://127.0.0.1:") and resolved.is_live is False

    (source,) = resolve_inputs(page).videos
    assert source.kind is VideoSourceKind.URL and source.name == "street-scene"
    info, packets = read_all(source)
    assert (info.width, info.height, info.frame_count) == (160, 120, 12)
    assert len(packets) == 12 and all(p.image is not None for p in packets)
    np.testing.assert_allclose(packets[5].image.mean(), figure_frame(5, (160, 120)).mean(), atol=3)


def test_http_video_link_is_read_directly_as_a_stream(loopback_url):
    (source,) = resolve_inputs(loopback_url + "/cams/clip.mp4").videos
    assert source.kind is VideoSourceKind.STREAM
    info, packets = read_all(source)
    assert (info.width, info.height) == (160, 120) and len(packets) == 12


def test_unresolvable_url_is_a_one_line_error():
    with pytest.raises(MiVOLOError, match="yt-dlp could not resolve"):
        resolve_url("http://127.0.0.1:9/nothing-here", max_height=720)
