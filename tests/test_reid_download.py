"""The Re-ID downloader against a loopback HTTP server serving a generated file."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from typing import ClassVar, List, Optional, Tuple

import pytest

from mivolo.reid.download import DownloadError, download, partial_path

PAYLOAD = bytes(range(256)) * 1024  # 262,144 bytes
CUT_AFTER = 100_000  # bytes the "flaky" route sends before dropping the connection


class Handler(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[List[Tuple[str, Optional[str]]]] = []  # (path, Range header) of every request, in order

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.requests.append((self.path, self.headers.get("Range")))
        if self.path == "/missing.pt":
            self.send_error(404, "Not Found")
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
