#!/usr/bin/env python
"""Age and gender of every person in images and videos: see `python demo.py --help`."""

import sys

from mivolo.cli.common import launch

if __name__ == "__main__":
    sys.exit(launch("mivolo.cli.demo", "demo.py"))
