#!/usr/bin/env python
"""Export MiVOLO and/or the detector for ONNX Runtime and OpenVINO: see `python tools/export.py --help`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mivolo.cli.common import launch  # noqa: E402

if __name__ == "__main__":
    sys.exit(launch("mivolo.cli.export", "tools/export.py"))
