"""Default public weights, resolved through the Hugging Face hub cache (with its progress bars)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from mivolo.core.errors import MiVOLOError


@dataclass(frozen=True)
class HubWeights:
    repo_id: str
    filenames: Tuple[str, ...]
    flag: str  # the command-line flag that takes a local copy instead

    def describe(self) -> str:
        return ", ".join(f"{self.repo_id}/{name}" for name in self.filenames)


DEFAULT_DETECTOR = HubWeights(
    repo_id="iitolstykh/YOLO-Face-Person-Detector",
    filenames=("yolov8x_person_face.pt",),
    flag="--detector-weights",
)
DEFAULT_MIVOLO = HubWeights(
    repo_id="iitolstykh/mivolo_v2",
    filenames=("model.safetensors", "config.json"),
    flag="--checkpoint",
)


def download_default(weights: HubWeights) -> Path:
    """Fetch (or find in the hub cache) the files; return the path of the first one.

    Offline or unreachable hubs give a one-line error naming the files and the local-copy flag.
    """
    from huggingface_hub import hf_hub_download

    paths = []
    for filename in weights.filenames:
        try:
            paths.append(Path(hf_hub_download(repo_id=weights.repo_id, filename=filename)))
        except Exception as exc:  # offline mode, DNS, HTTP and cache errors all end the same way
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MiVOLOError(
                f"could not get the default weights {weights.describe()} from the Hugging Face hub "
                f"({type(exc).__name__}: {reason[:160]}); download them elsewhere and pass {weights.flag} PATH"
            ) from exc
    return paths[0]


def resolve_detector_weights(path: Optional[str]) -> Path:
    return Path(path) if path else download_default(DEFAULT_DETECTOR)


def resolve_checkpoint(path: Optional[str]) -> Path:
    """A local checkpoint, or the folder of the cached MiVOLO v2 (safetensors + config.json)."""
    return Path(path) if path else download_default(DEFAULT_MIVOLO).parent
