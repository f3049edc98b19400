#!/usr/bin/env python
"""List, download, import and select person Re-ID models for BoT-SORT: see `python setup_reid_models.py --help`."""

import sys

from mivolo.cli.common import launch

if __name__ == "__main__":
    sys.exit(launch("mivolo.cli.reid_setup", "setup_reid_models.py"))
