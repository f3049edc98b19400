"""List, download, import and select person Re-ID models for BoT-SORT: see `python setup_reid_models.py --help`."""

import argparse

from mivolo.cli.common import add_run_arguments, configure_logging
from mivolo.core.errors import MiVOLOError, run_command
from mivolo.tracking.tracker import DEFAULT_TRACKER

PROG = "setup_reid_models.py"

DESCRIPTION = """\
Manage the person Re-ID models BoT-SORT uses to keep identities through crossings and
occlusions. Everything is kept in your data folder, whatever the current folder: $MIVOLO_HOME,
else ~/.local/share/mivolo ($XDG_DATA_HOME/mivolo; macOS ~/Library/Application Support/mivolo;
Windows %LOCALAPPDATA%\\mivolo). Models go to its reid/ (or --models-dir, or $MIVOLO_REID_DIR);
--use writes your copy of the tracker config to its trackers/ (the shipped one is never edited).
"""

EPILOG = """\
examples:
  python setup_reid_models.py --list
  python setup_reid_models.py --recommend balanced
  python setup_reid_models.py --download osnet_x0_25_msmt17
  python setup_reid_models.py --use osnet_x0_25_msmt17          # writes <data>/trackers/botsort.yaml
  python setup_reid_models.py --import ~/osnet_x1_0_msmt17.pt --name osnet_x1_0_msmt17   # offline copy

A download resumes a partial file left by an interrupted run; --force downloads again.
exit codes: 0 done, 2 bad input, network or file problem (one-line message; --verbose for details).
"""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    from mivolo.reid.catalog import GOALS

    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--list", action="store_true", help="every model: family, dim, size, speed, training set, source, license"
    )
    action.add_argument(
        "--download", metavar="NAME", help="fetch a model of the list from its public source into the models folder"
    )
    action.add_argument(
        "--import", dest="import_path", metavar="PATH", help="register a weight file you already have (needs --name)"
    )
    action.add_argument(
        "--use", metavar="NAME", help="make the tracker config use this model (sets with_reid and model in your copy of it)"
    )
    action.add_argument("--recommend", choices=GOALS, help="which model to pick for a goal")
    parser.add_argument("--name", help="name for --import (a catalog name files it exactly as --download would)")
    parser.add_argument("--architecture", help="for --import: the network, when the file's name and keys do not tell")
    parser.add_argument(
        "--force", action="store_true", help="with --download: download again even if the file is there"
    )
    parser.add_argument(
        "--tracker",
        default=DEFAULT_TRACKER,
        metavar="NAME|PATH",
        help=f"the config --use sets: a name (your copy, made from the shipped one) or a path, edited in place "
        f"(default {DEFAULT_TRACKER})",
    )
    parser.add_argument(
        "--models-dir", metavar="DIR", help="where models are kept (default: $MIVOLO_REID_DIR, else <data>/reid)"
    )
    add_run_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> str:
    from mivolo.jobs import reid_setup as setup_commands

    if args.list:
        return setup_commands.list_models(args.models_dir)
    if args.download:
        return setup_commands.download_model(
            args.download, args.models_dir, force=args.force, show_progress=not args.no_progress
        )
    if args.import_path:
        if not args.name:
            raise MiVOLOError("--import needs --name NAME (the name to use the model by)")
        return setup_commands.import_file(args.import_path, args.name, args.models_dir, args.architecture)
    if args.use:
        return setup_commands.use(args.use, args.tracker, args.models_dir)
    return setup_commands.recommendation(args.recommend)


def main(argv=None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    configure_logging(args.verbose)

    def body() -> int:
        print(run(args))
        return 0

    return run_command(prog, body, args.verbose)

