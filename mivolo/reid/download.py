"""Download one file over HTTP(S): progress bar, resume of a partial file, sha256 check, atomic result.

The bytes go to `<target>.part` beside the target. A dropped or stalled connection keeps the
partial file and the download resumes from its size with an HTTP Range request (within this run,
up to `retries` times, and in a later run). Only a complete file whose checksum matches is
renamed onto the target, so the target is never half-written.

Every download is bounded: in size (a server that streams forever cannot fill the disk), in
silence (no byte for `stall_seconds` ends an attempt) and in wall time (`deadline_seconds` for
the whole download, all attempts together). Too many bytes, or a promise of too many, and a
checksum mismatch delete the partial file; a stall or the deadline keeps it for the next run.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from mivolo.core.errors import MiVOLOError

CHUNK_BYTES = 1 << 16
DEFAULT_RETRIES = 5
STALL_SECONDS = 30.0  # also the limit for connecting and for the response headers
DEADLINE_SECONDS = 30 * 60.0
# For a file of unknown size: several times the weights of every catalog network (the largest,
# CLIP ViT-B/16, has 86M parameters in its image encoder, 0.33 GiB as float32).
UNKNOWN_SIZE_CAP = 1 << 30
USER_AGENT = "mivolo-reid-setup"


class DownloadError(MiVOLOError):
    """The file could not be fetched, or what arrived is not the expected file."""


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size: int
    resumed_from: int  # bytes already on disk when this run started (0: fresh download)


def size_cap(size: Optional[int]) -> int:
    """The most bytes accepted for a file published at `size` bytes (None: unknown).

    1.5x + 1 MiB leaves room for a re-upload of the same model; more is not that file.
    """
    return UNKNOWN_SIZE_CAP if size is None else size * 3 // 2 + (1 << 20)


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


def _open(url: str, offset: int, stall_seconds: float):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=stall_seconds)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return None  # the partial file is not a prefix of this file any more: start again
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; the file is not available at this address") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"{url}: cannot connect ({reason}); check the network, or download it elsewhere and use --import"
        ) from exc


class _Stalled(Exception):
    """No byte arrived for the stall timeout."""


class _PastDeadline(Exception):
    """The download's wall-clock deadline passed."""


class _TooLarge(Exception):
    """More bytes than the size cap: not the model file."""


def _receive(response, part: Path, offset: int, cap: int, deadline: float, progress: tqdm) -> int:
    """Append the response body to `part`; returns the bytes on disk.

    Raises on a cut connection, and `_Stalled`, `_PastDeadline` or `_TooLarge`.
    """
    mode = "ab" if offset else "wb"
    written = offset
    with open(part, mode) as handle:
        while True:
            try:
                # read1: one socket read at most, so a trickling server cannot hold a read past the deadline
                block = response.read1(CHUNK_BYTES)
            except socket.timeout as exc:
                raise _Stalled() from exc
            if not block:
                return written
            written += len(block)
            if written > cap:
                raise _TooLarge()
            try:
                handle.write(block)
            except OSError as exc:  # a full disk is not a dropped connection: retrying cannot help
                raise DownloadError(f"{part}: cannot write the download ({exc.strerror or exc})") from exc
            progress.update(len(block))
            if time.monotonic() > deadline:
                raise _PastDeadline()


def download(
    url: str,
    target,
    sha256: Optional[str] = None,
    retries: int = DEFAULT_RETRIES,
    show_progress: bool = True,
    size: Optional[int] = None,
    stall_seconds: float = STALL_SECONDS,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> DownloadResult:
    """Fetch `url` into `target` (atomically), resuming `<target>.part` if a previous run left one.

    size: the published size in bytes, if known; it sets the size cap (see `size_cap`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(target)
    fetch_url = direct_url(url)
    cap = size_cap(size)
    deadline = time.monotonic() + deadline_seconds
    kept = f"{part} is kept and the next --download resumes it"
    too_late = f"{url}: not finished within {deadline_seconds:g} s; {kept}"
    resumed_from = part.stat().st_size if part.exists() else 0
    progress = tqdm(
        total=None, initial=resumed_from, unit="B", unit_scale=True, desc=target.name, disable=not show_progress
    )
    failure = "the connection kept dropping"
    try:
        for _attempt in range(retries + 1):
            if time.monotonic() > deadline:
                raise DownloadError(too_late)
            offset = part.stat().st_size if part.exists() else 0
            response = _open(fetch_url, offset, stall_seconds)
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
                length = response.length  # Content-Length as http.client parsed it: None if absent or invalid
                expected_size = offset + length if length is not None else None
                if expected_size is not None and expected_size > cap:
                    part.unlink(missing_ok=True)
                    raise DownloadError(
                        f"{url}: the server announces {expected_size} bytes, more than the {cap} accepted "
                        "for this model; refused before downloading"
                    )
                progress.total = expected_size
                try:
                    received = _receive(response, part, offset, cap, deadline, progress)
                except _TooLarge:
                    part.unlink()
                    raise DownloadError(
                        f"{url}: the server sent more than the {cap} bytes accepted for this model; "
                        "the partial file was deleted"
                    ) from None
                except _PastDeadline:
                    raise DownloadError(too_late) from None
                except _Stalled:
                    failure = f"the server sent nothing for {stall_seconds:g} s"
                    continue  # resume from what is on disk
                except (http.client.IncompleteRead, ConnectionError, OSError):
                    failure = "the connection kept dropping"
                    continue  # connection cut: resume from what is on disk
            if expected_size is not None and received < expected_size:
                continue  # the server closed early without an error: resume
            break
        else:
            raise DownloadError(f"{url}: {failure} ({retries + 1} attempts); {kept}")
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
