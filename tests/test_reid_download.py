"""The Re-ID downloader against a loopback HTTP server serving a generated file."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import time
from typing import ClassVar, List, Optional, Tuple

import pytest

from mivolo.reid.download import DownloadError, download, partial_path

PAYLOAD = bytes(range(256)) * 1024  # 262,144 bytes
CUT_AFTER = 100_000  # bytes the "flaky" route sends before dropping the connection
SMALL = 1000  # the published size the bounded-download tests claim: cap 1000 * 1.5 + 1 MiB
SMALL_CAP = 1500 + 1_048_576


class Handler(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[List[Tuple[str, Optional[str]]]] = []  # (path, Range header) of every request, in order

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.requests.append((self.path, self.headers.get("Range")))
        if self.path == "/missing.pt":
            self.send_error(404, "Not Found")
            return
        if self.path in _ENDLESS_ROUTES:
            try:
                _ENDLESS_ROUTES[self.path](self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should
            return
        match = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.end_headers()
        first_of_flaky = self.path == "/flaky.pt" and sum(1 for path, _ in Handler.requests if path == "/flaky.pt") == 1
        if first_of_flaky:
            self.wfile.write(body[:CUT_AFTER])  # promised the whole file, then the connection drops
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def _octet_stream(handler, length: Optional[int] = None):
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    if length is not None:
        handler.send_header("Content-Length", str(length))
    handler.end_headers()  # no length: HTTP/1.0, the body lasts until the server closes


def _forever(handler):
    _octet_stream(handler)
    for _ in range(10_000):  # 655 MB: far past any cap the tests set, and it does end
        handler.wfile.write(PAYLOAD[: 1 << 16])


def _trickle(handler, pause: float, count: int):
    _octet_stream(handler)
    for _ in range(count):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(pause)


def _huge(handler):
    _octet_stream(handler, length=10**12)  # a terabyte promised; a few bytes sent
    handler.wfile.write(PAYLOAD[:10])
    handler.wfile.flush()
    time.sleep(5)


_ENDLESS_ROUTES = {
    "/forever.pt": _forever,
    "/one-byte-every-2s.pt": lambda handler: _trickle(handler, pause=2.0, count=15),
    "/one-byte-every-0.1s.pt": lambda handler: _trickle(handler, pause=0.1, count=300),
    "/huge.pt": _huge,
}


@pytest.fixture
def server():
    Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_with_progress_and_pinned_checksum(server, tmp_path, capsys):
    target = tmp_path / "reid" / "osnet_x0_25_msmt17.pth"
    result = download(f"{server}/model.pt", target, sha256=SHA256)
    assert target.read_bytes() == PAYLOAD
    assert (result.sha256, result.size, result.resumed_from) == (SHA256, len(PAYLOAD), 0)
    assert not partial_path(target).exists()
    progress = capsys.readouterr().err
    assert "osnet_x0_25_msmt17.pth" in progress and "100%" in progress and "262k" in progress


def test_dropped_connection_resumes_with_a_range_request(server, tmp_path):
    target = tmp_path / "model.pt"
    result = download(f"{server}/flaky.pt", target, sha256=SHA256, show_progress=False)
    assert target.read_bytes() == PAYLOAD
    assert Handler.requests == [("/flaky.pt", None), ("/flaky.pt", f"bytes={CUT_AFTER}-")]
    assert result.resumed_from == 0


def test_partial_file_of_an_earlier_run_is_resumed(server, tmp_path):
    target = tmp_path / "model.pt"
    with pytest.raises(DownloadError, match="kept dropping"):
        download(f"{server}/flaky.pt", target, retries=0, show_progress=False)
    assert not target.exists() and partial_path(target).stat().st_size == CUT_AFTER
    result = download(f"{server}/flaky.pt", target, sha256=SHA256, show_progress=False)
    assert result.resumed_from == CUT_AFTER and target.read_bytes() == PAYLOAD
    assert Handler.requests[-1] == ("/flaky.pt", f"bytes={CUT_AFTER}-")


def test_checksum_mismatch_is_an_error_and_leaves_no_file(server, tmp_path):
    target = tmp_path / "model.pt"
    with pytest.raises(DownloadError, match=f"checksum mismatch .*received {SHA256}"):
        download(f"{server}/model.pt", target, sha256="0" * 64, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_404_is_a_clear_error(server, tmp_path):
    target = tmp_path / "model.pt"
    with pytest.raises(DownloadError, match=r"missing\.pt: HTTP 404 Not Found"):
        download(f"{server}/missing.pt", target, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(DownloadError, match="cannot connect"):
        download("http://127.0.0.1:9/model.pt", tmp_path / "model.pt", show_progress=False)


# ---- bounded downloads: size, silence, wall time ----


def test_server_that_streams_forever_is_cut_at_the_size_cap(server, tmp_path):
    target = tmp_path / "model.pt"
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download(f"{server}/forever.pt", target, size=SMALL, show_progress=False)
    assert time.monotonic() - started < 10
    assert str(info.value) == (
        f"{server}/forever.pt: the server sent more than the {SMALL_CAP} bytes accepted for this model; "
        "the partial file was deleted"
    )
    assert list(tmp_path.iterdir()) == []  # neither the target nor the partial file


@pytest.mark.parametrize("size, cap", [(SMALL, SMALL_CAP), (None, 1 << 30)], ids=["published-size", "unknown-size"])
def test_announced_size_over_the_cap_is_refused_before_downloading(server, tmp_path, size, cap):
    target = tmp_path / "model.pt"
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download(f"{server}/huge.pt", target, size=size, show_progress=False)
    assert time.monotonic() - started < 3  # the server keeps the connection open for 5 s
    assert str(info.value) == (
        f"{server}/huge.pt: the server announces {10**12} bytes, more than the {cap} accepted "
        "for this model; refused before downloading"
    )
    assert list(tmp_path.iterdir()) == []


def test_stalled_server_ends_in_one_line_within_the_retries(server, tmp_path):
    target = tmp_path / "model.pt"
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download(f"{server}/one-byte-every-2s.pt", target, retries=2, show_progress=False, stall_seconds=0.5)
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 6  # 3 attempts of 0.5 s silence each, not one more
    assert str(info.value) == (
        f"{server}/one-byte-every-2s.pt: the server sent nothing for 0.5 s (3 attempts); "
        f"{partial_path(target)} is kept and the next --download resumes it"
    )
    path = "/one-byte-every-2s.pt"
    assert Handler.requests == [(path, None), (path, "bytes=1-"), (path, "bytes=1-")]
    # this server ignores Range, so each attempt starts the file again
    assert not target.exists() and partial_path(target).read_bytes() == b"x"


def test_slow_server_that_never_stalls_meets_the_deadline(server, tmp_path):
    target = tmp_path / "model.pt"
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        url = f"{server}/one-byte-every-0.1s.pt"
        download(url, target, show_progress=False, stall_seconds=0.5, deadline_seconds=1.5)
    assert 1.5 <= time.monotonic() - started < 4
    assert str(info.value) == (
        f"{server}/one-byte-every-0.1s.pt: not finished within 1.5 s; "
        f"{partial_path(target)} is kept and the next --download resumes it"
    )
    assert not target.exists() and 5 <= partial_path(target).stat().st_size <= 20
