"""Where this user's mivolo data lives (Re-ID models, their own tracker configs), whatever the
current folder: $MIVOLO_HOME, else the platform's per-user data folder + `mivolo`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "MIVOLO_HOME"


def data_home() -> Path:
    """The user's mivolo data folder, absolute so that messages name the real folder."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser().resolve()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser().resolve() / "mivolo"
