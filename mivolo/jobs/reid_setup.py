"""What `setup_reid_models.py` does: list, download, import, select and recommend Re-ID models.

Each command returns the text to print; errors are `MiVOLOError`s (one line, exit code 2).
"""

from __future__ import annotations

from typing import List, Optional

import torch

from mivolo.core.errors import CheckpointError
from mivolo.reid.architecture import get_architecture, parameter_count
from mivolo.reid.catalog import catalog, get_card, recommend
from mivolo.reid.download import download, partial_path
from mivolo.reid.loading import load_network
from mivolo.jobs.reid_selection import use_model
from mivolo.reid.store import import_model, imported_models, local_names, models_dir


def _parameters(architecture: str) -> int:
    with torch.device("meta"):  # counted without allocating the weights
        return parameter_count(get_architecture(architecture).build())


def list_models(folder=None) -> str:
    folder = models_dir(folder)
    present = local_names(folder)
    lines: List[str] = [
        f"Re-ID models (files in {folder}); speed tiers, fastest first: edge, fast, medium, slow, slowest",
        "",
    ]
    for card in catalog().values():
        arch = get_architecture(card.architecture)
        height, width = arch.input_size
        state = "downloaded" if card.name in present else "not downloaded"
        lines += [
            f"{card.name}  [{state}]",
            (
                f"    family {arch.family} ({arch.name}, {arch.weight_format.name} format), {arch.embedding_dim}-d embedding, "
                f"{_parameters(card.architecture) / 1e6:.2f}M parameters, input {height}x{width}, speed tier {card.speed_tier}"
            ),
            f"    trained on {card.training_set}; published: {card.published_accuracy}",
            f"    license {card.license}",
            f"    source {card.url}",
            f"    {card.checksum_status}",
            "",
        ]
    for name, entry in imported_models(folder).items():
        lines.append(f"{name}  [imported: {entry.file}, {entry.architecture}, sha256 {entry.sha256}]")
    return "\n".join(lines).rstrip() + "\n"


def download_model(name: str, folder=None, force: bool = False, show_progress: bool = True) -> str:
    card = get_card(name)
    target = models_dir(folder) / card.filename
    if target.is_file() and not force:
        return f"{name} is already in {target} (use --force to download it again)"
    if force and partial_path(target).exists():
        partial_path(target).unlink()  # start afresh; the old file stays until the new one replaces it
    result = download(card.url, target, card.sha256, show_progress=show_progress, size=card.size)
    try:
        load_network(result.path, card.architecture)  # a file that does not load strictly is of no use
    except CheckpointError:
        result.path.unlink()
        raise
    checksum = "matches the pinned sha256" if card.sha256 else "no sha256 is pinned for this model; record this one"
    resumed = f", resumed from {result.resumed_from} bytes" if result.resumed_from else ""
    return f"{name}: {result.size} bytes in {result.path}{resumed}; sha256 {result.sha256} ({checksum}); loads as {card.architecture}"


def import_file(path, name: str, folder=None, architecture: Optional[str] = None) -> str:
    resolved = import_model(path, name, folder, architecture)
    return f"{name}: imported as {resolved.path} ({resolved.architecture}); use it with --use {name} or demo.py --reid {name}"


def use(name: str, tracker_config, folder=None) -> str:
    path = use_model(name, tracker_config, folder)
    return f"{path}: with_reid: true, model: {name}"


def recommendation(goal: str) -> str:
    chosen = recommend(goal)
    card = chosen.card
    return (
        f"{goal}: {card.name} ({card.architecture}, speed tier {card.speed_tier}): {chosen.reason}\n"
        f"    python setup_reid_models.py --download {card.name} && python setup_reid_models.py --use {card.name}"
    )
