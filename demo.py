#!/usr/bin/env python
"""Age and gender of every person in images (and videos): see `python demo.py --help`."""

import sys

from mivolo.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
