#!/usr/bin/env python
"""List, download, import and select person Re-ID models for BoT-SORT: see `python setup_reid_models.py --help`."""

import argparse
import logging
import sys

from mivolo.core.errors import MiVOLOError, run_command

DESCRIPTION = """\
Manage the person Re-ID models BoT-SORT uses to keep identities through crossings and
occlusions. Models live in models/reid/ (or --models-dir, or $MIVOLO_REID_DIR).
"""

EPILOG = """\
examples:
  python setup_reid_models.py --list
  python setup_reid_models.py --recommend balanced
  python setup_reid_models.py --download osnet_x0_25_msmt17
  python setup_reid_models.py --use osnet_x0_25_msmt17          # edits trackers/botsort.yaml
  python setup_reid_models.py --import ~/osnet_x1_0_msmt17.pt --name osnet_x1_0_msmt17   # offline copy

A download resumes a partial file left by an interrupted run; --force downloads again.
exit codes: 0 done, 2 bad input, network or file problem (one-line message; --verbose for details).
"""


def build_parser() -> argparse.ArgumentParser:
    from mivolo.reid.catalog import GOALS

    parser = argparse.ArgumentParser(
        prog="setup_reid_models.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--list", action="store_true", help="every model: family, dim, size, speed, training set, source, license"
    )
    action.add_argument(
        "--download", metavar="NAME", help="fetch a model of the list from its public source into models/reid/"
    )
    action.add_argument(
        "--import", dest="import_path", metavar="PATH", help="register a weight file you already have (needs --name)"
    )
    action.add_argument(
        "--use", metavar="NAME", help="make the tracker config use this model (sets with_reid and model)"
    )
    action.add_argument("--recommend", choices=GOALS, help="which model to pick for a goal")
    parser.add_argument("--name", help="name for --import (a catalog name files it exactly as --download would)")
    parser.add_argument("--architecture", help="for --import: the network, when the file's name and keys do not tell")
    parser.add_argument(
        "--force", action="store_true", help="with --download: download again even if the file is there"
    )
    parser.add_argument(
        "--tracker", default="botsort.yaml", metavar="YAML", help="config --use edits: a path or a name in trackers/ (default: %(default)s)"
    )
    parser.add_argument(
        "--models-dir", metavar="DIR", help="where models are kept (default: $MIVOLO_REID_DIR or models/reid)"
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    return parser


def run(args: argparse.Namespace) -> str:
    from mivolo.jobs import reid_setup as setup_commands

    if args.list:
        return setup_commands.list_models(args.models_dir)
    if args.download:
        return setup_commands.download_model(args.download, args.models_dir, force=args.force)
    if args.import_path:
        if not args.name:
            raise MiVOLOError("--import needs --name NAME (the name to use the model by)")
        return setup_commands.import_file(args.import_path, args.name, args.models_dir, args.architecture)
    if args.use:
        return setup_commands.use(args.use, args.tracker, args.models_dir)
    return setup_commands.recommendation(args.recommend)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")

    def body() -> int:
        print(run(args))
        return 0

    return run_command("setup_reid_models.py", body, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
