"""Errors a user can act on. The command-line tools print them as one line and exit with code 2."""

import sys
from typing import Callable


class MiVOLOError(Exception):
    """A problem with the user's input, files or settings (not a bug in this package)."""


class CheckpointError(MiVOLOError):
    """A weight file that is missing, corrupt, of the wrong kind, or does not match the network."""


class UnsafeCheckpointError(CheckpointError):
    """A weight file that would need arbitrary code to unpickle; it is refused, never executed."""


def run_command(prog: str, body: Callable[[], int], verbose: bool = False) -> int:
    """Run a command's body: a MiVOLOError is one line on stderr and exit code 2 (a traceback
    only with --verbose); Ctrl-C is one line and exit code 130."""
    try:
        return body()
    except MiVOLOError as exc:
        if verbose:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
