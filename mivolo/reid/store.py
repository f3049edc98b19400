"""The user's Re-ID models folder: which models are on this machine, by catalog name, imported name or path.

Everything the tools keep for a user lives in one data folder, whatever the current folder:
$MIVOLO_HOME, else the platform's per-user data folder + `mivolo` (Linux: $XDG_DATA_HOME or
~/.local/share; macOS: ~/Library/Application Support; Windows: %LOCALAPPDATA%). Re-ID models go
to its `reid/` (--models-dir or $MIVOLO_REID_DIR choose another folder).

Downloads keep their catalog file name; `--import` copies a file the user already has under a
name, after proving it loads strictly, and records name, file, architecture and sha256 in
`imported.json` there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional

from mivolo.core.errors import MiVOLOError
from mivolo.core.paths import data_home
from mivolo.io.safe_output import atomic_path, write_json_atomic
from mivolo.reid.catalog import catalog
from mivolo.reid.download import sha256_of

MODELS_DIR_ENV = "MIVOLO_REID_DIR"
MODELS_SUBDIR = "reid"
IMPORTED_INDEX = "imported.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    architecture: Optional[str]  # None: recognised from the file when loaded


@dataclass(frozen=True)
class ImportedModel:
    name: str
    file: str  # inside the models folder
    architecture: str
    sha256: str


def models_dir(override=None) -> Path:
    """The Re-ID models folder, absolute so that every message names the folder really searched."""
    chosen = override or os.environ.get(MODELS_DIR_ENV) or data_home() / MODELS_SUBDIR
    return Path(chosen).expanduser().resolve()


def imported_models(folder=None) -> Dict[str, ImportedModel]:
    index = models_dir(folder) / IMPORTED_INDEX
    if not index.is_file():
        return {}
    try:
        raw = json.loads(index.read_text())
        return {name: ImportedModel(**entry) for name, entry in raw.items()}
    except (OSError, ValueError, TypeError) as exc:
        raise MiVOLOError(f"{index}: unreadable index of imported Re-ID models ({exc}); fix or delete it") from exc


def resolve_model(name_or_path: str, folder=None) -> ResolvedModel:
    """A catalog name, an imported name, or a path to a weight file."""
    folder = models_dir(folder)
    card = catalog().get(name_or_path)
    if card is not None:
        path = folder / card.filename
        if not path.is_file():
            raise MiVOLOError(
                f"Re-ID model {card.name} is not in {folder}: run `python setup_reid_models.py --download {card.name}` "
                f"(offline: --import PATH --name {card.name})"
            )
        return ResolvedModel(card.name, path, card.architecture)
    imported = imported_models(folder).get(name_or_path)
    if imported is not None:
        return ResolvedModel(imported.name, folder / imported.file, imported.architecture)
    path = Path(name_or_path)
    if path.is_file():
        return ResolvedModel(path.stem, path, None)
    raise MiVOLOError(
        f"{name_or_path}: neither a Re-ID model in {folder} (see `python setup_reid_models.py --list`) "
        "nor an existing weight file"
    )


def local_names(folder=None) -> Dict[str, Path]:
    """Every catalog or imported model present in the folder, by name."""
    folder = models_dir(folder)
    present = {name: folder / card.filename for name, card in catalog().items() if (folder / card.filename).is_file()}
    present.update({name: folder / entry.file for name, entry in imported_models(folder).items()})
    return present


def import_model(source, name: str, folder=None, architecture: Optional[str] = None) -> ResolvedModel:
    """Copy a weight file into the models folder under `name`, after it has loaded strictly.

    A catalog name takes the catalog's file name and architecture (and its pinned sha256, if any),
    so an offline machine can use a file downloaded elsewhere exactly as if --download had run.
    """
    from mivolo.reid.loading import load_network

    source = Path(source)
    folder = models_dir(folder)
    if not NAME_PATTERN.match(name):
        raise MiVOLOError(f"{name!r}: a model name may use letters, digits, '_', '.' and '-' only")
    if not source.is_file():
        raise MiVOLOError(f"{source}: file not found")
    card = catalog().get(name)
    digest = sha256_of(source)
    if card is not None:
        if card.sha256 and digest != card.sha256:
            raise MiVOLOError(f"{source}: sha256 {digest} is not the published {card.sha256} of {name}; not imported")
        architecture = card.architecture
    loaded = load_network(source, architecture)  # proves the file loads strictly before anything is written
    filename = card.filename if card is not None else f"{name}{source.suffix or loaded.architecture.file_suffix}"
    target = folder / filename
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    if card is None:
        index = {key: asdict(entry) for key, entry in imported_models(folder).items()}
        index[name] = asdict(ImportedModel(name, filename, loaded.architecture.name, digest))
        write_json_atomic(folder / IMPORTED_INDEX, index)
    return ResolvedModel(name, target, loaded.architecture.name)
