"""Atomic file output: a reader never sees a half-written file, and a failure leaves none behind."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterator, Sequence

import cv2
import numpy as np

from mivolo.core.errors import MiVOLOError


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_PLAIN_FILE_MODE = 0o666 & ~_read_umask()  # read once at import, before any worker thread exists


def new_temp_path(target) -> Path:
    """A new, empty file with a unique, unpredictable name in the target's folder (O_EXCL, so
    nothing planted there, a link least of all, is ever opened), for a writer that must be given
    a path (OpenCV) to fill before `promote` renames it into place."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    except OSError as exc:
        raise MiVOLOError(f"{target}: not written ({exc.strerror or exc})") from exc
    os.close(fd)
    return Path(name)


def promote(tmp: Path, target) -> Path:
    """Rename a finished temporary file over the target (the rename replaces a link, never follows it)."""
    try:
        os.chmod(tmp, _PLAIN_FILE_MODE)  # mkstemp makes files owner-only; match what open() gives
        os.replace(tmp, target)
    except OSError as exc:
        raise MiVOLOError(f"{target}: not written ({exc.strerror or exc})") from exc
    return Path(target)


@contextlib.contextmanager
def atomic_path(target) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over the target on success. A
    failed write (a full disk) is one MiVOLOError naming the target, and leaves nothing behind."""
    target = Path(target)
    tmp = new_temp_path(target)
    try:
        try:
            yield tmp
        except OSError as exc:
            raise MiVOLOError(f"{target}: not written ({exc.strerror or exc})") from exc
        promote(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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


def check_output_file(path) -> Path:
    """Prove, without creating anything, that a file can be written at `path`: it is not an
    existing folder or special file, and its folder is or can be made writable."""
    path = Path(path)
    if path.is_dir():
        raise MiVOLOError(f"{path}: is a folder, and this run writes a file there")
    if path.is_symlink() or path.exists():
        if not path.is_file():
            raise MiVOLOError(f"{path}: exists and is not a regular file")
    check_writable_location(path.parent)
    return path


def check_outputs_spare_inputs(files: Sequence[Path], folders: Sequence[Path], inputs: Sequence[Path]) -> None:
    """No output of a run (links followed) is one of its inputs or another of its outputs, and no
    input lies in a folder the run writes files of its own naming into."""
    written: Dict[Path, Path] = {}
    for path in [*files, *folders]:
        real = Path(path).resolve()
        if real in written:
            raise MiVOLOError(f"{path}: this run would write it twice (it is also {written[real]}); give distinct outputs")
        written[real] = Path(path)
    real_inputs = {Path(path).resolve(): Path(path) for path in inputs}
    for real, path in written.items():
        if real in real_inputs:
            raise MiVOLOError(
                f"{path}: an output of this run would overwrite the input {real_inputs[real]}; choose another "
                "--output or --json-output-path"
            )
    for folder in folders:
        real = Path(folder).resolve()
        for real_input, path in real_inputs.items():
            if real_input.is_relative_to(real):
                raise MiVOLOError(f"{path}: this input is inside {folder}, where this run writes its own files")


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
