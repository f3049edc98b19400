"""The `mivolo` console command: one entry point with a subcommand per job."""

from __future__ import annotations

import sys
from typing import List, Optional

from mivolo.cli.common import launch

COMMANDS = {
    "run": ("mivolo.cli.demo", "images, folders, videos, streams and page URLs: age, gender and tracks (demo.py)"),
    "eval": ("mivolo.cli.eval", "a checkpoint's accuracy on the standard benchmarks (eval_pretrained.py)"),
    "reid": ("mivolo.cli.reid_setup", "list, download, import and select Re-ID models (setup_reid_models.py)"),
    "reid-compare": ("mivolo.cli.reid_compare", "a video tracked with several Re-ID models, compared (demo_advanced_reid.py)"),
    "export": ("mivolo.cli.export", "MiVOLO and the detector to ONNX / OpenVINO (tools/export.py)"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: mivolo COMMAND [options]   (mivolo COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"mivolo: error: unknown command {name!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return launch(COMMANDS[name][0], f"mivolo {name}", rest)


if __name__ == "__main__":
    sys.exit(main())
