#!/usr/bin/env python
"""Age and gender of every person in images (and videos): see `python demo.py --help`."""

import sys

from mivolo.demo_cli import main

if __name__ == "__main__":
    sys.exit(main())
