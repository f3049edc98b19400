"""One run at a time per output folder and run name.

Two runs writing the same outputs (the same video into the same folder) would overwrite each
other's files, so a run holds `OUTPUT/.<name>.lock` for each of its run names (a video's name,
`images` for the images) from before its models load until it ends, however it ends. The lock
is created with O_EXCL and holds the run's process ID. A second run finding it refuses at once,
naming the lock; a lock whose process is gone (a run killed with SIGKILL, or SIGTERM before its
first frame) is stale and taken over. Process IDs are those of this machine: runs on two
machines (or containers) sharing a folder are not kept apart.

The output folder is created with the lock; folders the run created and left empty (it failed
before writing anything) are removed again when it ends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Optional

from mivolo.core.errors import MiVOLOError


def lock_path(folder: Path, name: str) -> Path:
    return Path(folder) / f".{name}.lock"


def _holder(path: Path) -> Optional[int]:
    """The process ID a lock holds: 0 when it was released meanwhile, None when it cannot be read
    (a run that has only just created it, or something else planted there)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return 0
    except OSError:
        return None
    with os.fdopen(fd) as handle:
        text = handle.read().strip()
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return False  # a lock of an earlier process that had this ID: not ours yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class RunLock:
    """Holds the locks of `names` in `folder` while in a `with` block (see the module doc)."""

    def __init__(self, folder, names: Iterable[str]):
        self.folder = Path(folder)
        self.names = list(dict.fromkeys(names))
        self.held: List[Path] = []
        self.created: List[Path] = []  # folders this run made, deepest first

    def _make_folder(self) -> None:
        missing = []
        folder = self.folder
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MiVOLOError(f"{self.folder}: output folder cannot be created ({exc.strerror or exc})") from exc
        self.created = missing

    def _take(self, path: Path) -> None:
        for attempt in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            except FileExistsError:
                holder = _holder(path)
                if attempt == 0 and holder is not None and not _alive(holder):
                    if holder:
                        path.unlink(missing_ok=True)  # stale: its run is gone
                    continue
                who = "another run" if holder is None else f"another run (process {holder})"
                raise MiVOLOError(
                    f"{self.folder}: {who} is writing the same outputs here; wait for it, choose another "
                    f"--output, or delete {path} if no such run is going on"
                )
            except OSError as exc:
                raise MiVOLOError(f"{path}: cannot create the run's lock ({exc.strerror or exc})") from exc
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()}\n")
            self.held.append(path)
            return

    def __enter__(self) -> "RunLock":
        self._make_folder()
        try:
            for name in self.names:
                self._take(lock_path(self.folder, name))
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        for path in self.held:
            if _holder(path) == os.getpid():
                path.unlink(missing_ok=True)
        self.held = []
        for folder in self.created:
            try:
                folder.rmdir()  # only when empty: the run wrote nothing there
            except OSError:
                break
        self.created = []

    def __exit__(self, *exc) -> None:
        self.release()
