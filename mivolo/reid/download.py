"""Download one file over HTTP(S): progress bar, resume of a partial file, sha256 check, atomic result.

The bytes go to `<target>.part` beside the target. A dropped connection keeps the partial file
and the download resumes from its size with an HTTP Range request (within this run, and in a
later run). Only a complete file whose checksum matches is renamed onto the target, so the
target is never half-written; a checksum mismatch deletes the partial file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from mivolo.errors import MiVOLOError

CHUNK_BYTES = 1 << 16
DEFAULT_RETRIES = 5
TIMEOUT_SECONDS = 30
USER_AGENT = "mivolo-reid-setup"


class DownloadError(MiVOLOError):
    """The file could not be fetched, or what arrived is not the expected file."""


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size: int
    resumed_from: int  # bytes already on disk when this run started (0: fresh download)


def partial_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def direct_url(url: str) -> str:
    """Google Drive's `uc?id=` link serves a confirmation page for big files unless told not to."""
    parsed = urllib.parse.urlparse(url)
    if parsed.netloc == "drive.google.com" and parsed.path == "/uc":
        query = dict(urllib.parse.parse_qsl(parsed.query))
        query.update({"export": "download", "confirm": "t"})
        return urllib.parse.urlunparse(parsed._replace(query=urllib.parse.urlencode(query)))
    return url


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, offset: int):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return None  # the partial file is not a prefix of this file any more: start again
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; the file is not available at this address") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"{url}: cannot connect ({reason}); check the network, or download it elsewhere and use --import"
        ) from exc


def _receive(response, part: Path, offset: int, progress: tqdm) -> int:
    """Append the response body to `part`; returns the bytes on disk. Raises on a cut connection."""
    mode = "ab" if offset else "wb"
    written = offset
    with open(part, mode) as handle:
        while True:
            block = response.read(CHUNK_BYTES)
            if not block:
                return written
            handle.write(block)
            written += len(block)
            progress.update(len(block))


def download(
    url: str, target, sha256: Optional[str] = None, retries: int = DEFAULT_RETRIES, show_progress: bool = True
) -> DownloadResult:
    """Fetch `url` into `target` (atomically), resuming `<target>.part` if a previous run left one."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(target)
    fetch_url = direct_url(url)
    resumed_from = part.stat().st_size if part.exists() else 0
    progress = tqdm(
        total=None, initial=resumed_from, unit="B", unit_scale=True, desc=target.name, disable=not show_progress
    )
    try:
        for _attempt in range(retries + 1):
            offset = part.stat().st_size if part.exists() else 0
            response = _open(fetch_url, offset)
            if response is None:
                part.unlink()
                progress.reset()
                continue
            with response:
                if "text/html" in response.headers.get("Content-Type", ""):
                    raise DownloadError(
                        f"{url}: the server sent a web page, not the file (a login or confirmation page?); "
                        "download it in a browser and register it with --import"
                    )
                if offset and response.status != 206:
                    offset = 0  # the server ignored the Range request and sends the whole file
                    progress.reset()
                length = response.headers.get("Content-Length")
                expected_size = offset + int(length) if length is not None else None
                progress.total = expected_size
                try:
                    received = _receive(response, part, offset, progress)
                except (http.client.IncompleteRead, ConnectionError, socket.timeout, OSError):
                    continue  # connection cut: resume from what is on disk
            if expected_size is not None and received < expected_size:
                continue  # the server closed early without an error: resume
            break
        else:
            raise DownloadError(
                f"{url}: the connection kept dropping ({retries + 1} attempts); "
                f"{part} is kept and the next --download resumes it"
            )
    finally:
        progress.close()
    digest = sha256_of(part)
    if sha256 and digest != sha256.lower():
        part.unlink()
        raise DownloadError(
            f"{url}: checksum mismatch (expected sha256 {sha256}, received {digest}); the file was deleted"
        )
    os.replace(part, target)
    return DownloadResult(path=target, sha256=digest, size=target.stat().st_size, resumed_from=resumed_from)
