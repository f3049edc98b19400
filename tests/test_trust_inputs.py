"""demo.py refuses bad input in one line: images too big to decode (known from the header, before
any memory is taken), decoder errors per image, videos that end short of their frame count, dead
webcams, streams and page URLs; export errors name the user's files, not temporary ones."""

import http.server
import json
import socket
import struct
import threading
import zlib

import cv2
import numpy as np
import pytest
import torch
from test_demo_images import run_demo
from test_trust_outputs import demo, one_error_line, write_photo
from test_video_pipeline import SIZE, model_flags

from mivolo.core.errors import CheckpointError
from mivolo.devtools.synthetic import write_figure_video
from mivolo.io.images import header_size, read_image
from mivolo.model.export import export_detector


def blank_png(path, width, height):
    """A real 1-bit PNG of width x height zeros, compressed row by row: about 100 KB for
    30000 x 30000, built without holding the 112 MB of raw rows."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter type 0, then the row's bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


# ---- 6. images too big -------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".png", ".jpg", ".bmp", ".webp", ".tif"])
def test_the_header_gives_the_size_of_every_image_format(extension):
    ok, encoded = cv2.imencode(extension, np.zeros((23, 37, 3), np.uint8))
    assert ok and header_size(encoded.tobytes()) == (37, 23)


def test_an_image_too_big_is_refused_before_it_is_decoded(tmp_path, detector_path, legacy_checkpoint_path, capsys):
    huge = blank_png(tmp_path / "huge.png", 30000, 30000)
    assert huge.stat().st_size < 200_000
    assert demo(huge, tmp_path / "out", detector_path, legacy_checkpoint_path) == 2
    assert "30000x30000 pixels is more than --max-image-pixels 100000000 allows" in one_error_line(capsys.readouterr().err)


def test_a_folder_run_skips_and_lists_an_image_too_big(tmp_path, detector_path, legacy_checkpoint_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_photo(photos / "good.jpg")
    blank_png(photos / "huge.png", 40000, 40000)  # also over OpenCV's own limit, which once aborted the run
    out = tmp_path / "out"
    assert demo(photos, out, detector_path, legacy_checkpoint_path, "--max-image-pixels", "50000000") == 0
    summary = json.loads((out / "images.json").read_text())["summary"]
    assert (summary["processed"], summary["failed"]) == (1, 1)
    assert summary["errors"] == [f"{photos / 'huge.png'}: 40000x40000 pixels is more than --max-image-pixels 50000000 allows (not decoded)"]


def test_a_decoder_error_is_a_reason_not_a_crash(tmp_path):
    huge = blank_png(tmp_path / "huge.png", 40000, 40000)
    with pytest.raises(ValueError, match=r"^not a decodable image \(OpenCV: .*PIXELS\)$"):
        read_image(huge, max_pixels=2**32)  # past our limit, OpenCV's refuses with cv2.error


# ---- 7. videos that lose frames -----------------------------------------------------------------------


def test_a_truncated_video_says_it_ended_early(tmp_path, detector_path, legacy_checkpoint_path):
    video = write_figure_video(tmp_path / "cut.avi", frames=100, size=SIZE, fps=10.0)  # MJPEG with an index
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert demo(video, out, detector_path, legacy_checkpoint_path, "--skip-frames", "9", "--save-json") == 0
    run = json.loads((out / "cut_summary.json").read_text())["run"]
    assert run["completed"] is False and run["frames_corrupt"] == 0
    assert run["stopped_by"] == f"source ended early: {run['frames_read']} of the 100 frames its container announces"
    assert 40 <= run["frames_read"] <= 60
    times = [record["time_s"] for record in json.loads((out / "cut_frames.json").read_text())]
    assert times == pytest.approx([index / 10.0 for index in range(0, run["frames_read"], 10)])


# ---- 8. dead inputs: fast and one line ----------------------------------------------------------------


class DeadEndHandler(http.server.BaseHTTPRequestHandler):
    """/loop redirects to itself for ever; any other path is a web page without a video."""

    def do_GET(self):
        if self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", self.path)
            self.end_headers()
            return
        body = b"<html><body><p>no video on this page</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def dead_end_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DeadEndHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "where, message",
    [
        ("9", "webcam 9: cannot open this video source"),
        ("rtsp", "cannot open this video source"),
        ("/loop/watch", "yt-dlp could not resolve a video stream"),
        ("/page", "yt-dlp could not resolve a video stream"),
    ],
)
def test_a_dead_input_fails_in_one_line(tmp_path, detector_path, legacy_checkpoint_path, dead_end_url, where, message):
    source = {"9": "9", "rtsp": f"rtsp://127.0.0.1:{closed_port()}/x"}.get(where, dead_end_url + where)
    out = tmp_path / "out"
    proc = run_demo("--input", source, "--output", out, *model_flags(detector_path, legacy_checkpoint_path))
    assert proc.returncode == 2
    assert message in one_error_line(proc.stderr)
    assert not out.exists()


# ---- 9. export errors name the user's files -----------------------------------------------------------


def test_export_errors_name_the_users_file_not_a_temporary_one(tmp_path, detector_path):
    checkpoint = torch.load(detector_path, weights_only=False)  # our own generated file
    checkpoint["model"].names = {0: "cat", 1: "dog"}
    wrong = tmp_path / "wrong_classes.pt"
    torch.save(checkpoint, wrong)
    with pytest.raises(CheckpointError) as raised:
        export_detector(wrong, tmp_path / "exported", formats=("onnx",), imgsz=64)
    assert str(raised.value).startswith(f"{wrong}: this detector has classes") and ".export-" not in str(raised.value)
