#!/usr/bin/env python
"""A MiVOLO checkpoint's accuracy on the standard age/gender benchmarks: see `python eval_pretrained.py --help`."""

import sys

from mivolo.cli.common import launch

if __name__ == "__main__":
    sys.exit(launch("mivolo.cli.eval", "eval_pretrained.py"))
