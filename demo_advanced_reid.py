#!/usr/bin/env python
"""Run a video without and with each Re-ID model and compare them: see `python demo_advanced_reid.py --help`."""

import sys

from mivolo.cli.common import launch

if __name__ == "__main__":
    sys.exit(launch("mivolo.cli.reid_compare", "demo_advanced_reid.py"))
