"""`--use NAME`: switch the tracker config's Re-ID model, editing only two lines of the YAML.

A shipped config (mivolo/trackers/) is never edited: its first `--use` writes the user's copy
(<data folder>/trackers/<name>.yaml), which every later run that names that config finds first,
from any folder; a config given by path is edited where it is. The YAML keeps its comments and
every other setting: `with_reid` becomes true and `model` (ultralytics' key for BoT-SORT's Re-ID
model) names the chosen model; a key that is missing is appended. The result is re-read to prove
it says what was meant before it atomically replaces (or creates) the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict

import yaml

from mivolo.core.errors import MiVOLOError
from mivolo.io.safe_output import atomic_path
from mivolo.reid.store import resolve_model

MODEL_KEY = "model"
ENABLE_KEY = "with_reid"
KEY_COMMENTS = {
    ENABLE_KEY: "(bool) also match by appearance with the Re-ID model below",
    MODEL_KEY: "(str) Re-ID model: a name from setup_reid_models.py --list, an imported name or a weight file",
}


def set_yaml_scalars(text: str, values: Dict[str, str]) -> str:
    """`text` with each top-level `key: value` line set (its comment kept), missing keys appended."""
    lines = text.splitlines()
    for key, value in values.items():
        pattern = re.compile(rf"^{re.escape(key)}\s*:\s*(?P<value>[^#]*?)(?P<comment>\s+#.*)?$")
        for index, line in enumerate(lines):
            match = pattern.match(line)
            if match:
                lines[index] = f"{key}: {value}{match.group('comment') or ''}"
                break
        else:
            lines.append(f"{key}: {value} # {KEY_COMMENTS.get(key, '')}".rstrip(" #"))
    return "\n".join(lines) + "\n"


def use_model(name: str, tracker_config="botsort.yaml", models_folder=None) -> Path:
    """Make `tracker_config` (a BoT-SORT YAML) use Re-ID model `name`, which must be on this machine;
    returns the file written."""
    from mivolo.tracking.tracker import TRACKER_DIR, find_tracker_file, user_tracker_dir

    resolve_model(name, models_folder)  # fails with the download hint if the model is not here
    path = find_tracker_file(str(tracker_config))  # a path, the user's copy, or a shipped config
    target = user_tracker_dir() / path.name if path.resolve().parent == TRACKER_DIR else path
    try:
        text = path.read_text()
        current = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise MiVOLOError(f"{path}: cannot read the tracker config ({str(exc).splitlines()[0]})") from exc
    if not isinstance(current, dict) or current.get("tracker_type") != "botsort":
        raise MiVOLOError(f"{path}: Re-ID needs a BoT-SORT config (tracker_type: botsort)")
    edited = set_yaml_scalars(text, {ENABLE_KEY: "true", MODEL_KEY: name})
    reread = yaml.safe_load(edited)
    if reread.get(ENABLE_KEY) is not True or str(reread.get(MODEL_KEY)) != name:
        raise MiVOLOError(f"{path}: could not set {MODEL_KEY}: {name} in this YAML safely; edit it by hand")
    with atomic_path(target) as tmp:
        tmp.write_text(edited)
    return target
