"""Atomic file output: a reader never sees a half-written file, and a failure leaves none behind."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from mivolo.core.errors import MiVOLOError


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_PLAIN_FILE_MODE = 0o666 & ~_read_umask()  # read once at import, before any worker thread exists


@contextlib.contextmanager
def atomic_path(target) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over the target on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _PLAIN_FILE_MODE)  # mkstemp makes files owner-only; match what open() gives
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(target, data) -> Path:
    """Write strict JSON: a NaN or infinity is refused, since `json.dumps` would write a bare NaN
    that other JSON readers reject."""
    try:
        text = json.dumps(data, indent=2, allow_nan=False)
    except ValueError as exc:
        raise MiVOLOError(f"{target}: not written: the data is not strict JSON ({exc})") from exc
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)


def write_image_atomic(target, image: np.ndarray) -> Path:
    target = Path(target)
    ok, encoded = cv2.imencode(target.suffix or ".jpg", image)
    if not ok:
        raise MiVOLOError(f"{target}: could not encode image")
    with atomic_path(target) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return target


def check_writable_location(folder) -> Path:
    """Prove, without creating anything, that `folder` is or can be made a writable folder: it is
    one, or its nearest existing parent is. Run before the models load; the folder itself is
    created once there is something to write."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MiVOLOError(f"{folder}: output folder cannot be created: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MiVOLOError(f"{folder}: output folder is not writable (no write permission on {existing})")
    return folder


def ensure_writable_dir(folder) -> Path:
    """Create the folder if needed and prove it is writable, before any work is done."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise MiVOLOError(f"{folder}: output folder is not writable ({exc.strerror or exc})")
    return folder
