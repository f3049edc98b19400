"""Errors a user can act on. The command-line tools print them as one line and exit with code 2."""


class MiVOLOError(Exception):
    """A problem with the user's input, files or settings (not a bug in this package)."""


class CheckpointError(MiVOLOError):
    """A weight file that is missing, corrupt, of the wrong kind, or does not match the network."""


class UnsafeCheckpointError(CheckpointError):
    """A weight file that would need arbitrary code to unpickle; it is refused, never executed."""
