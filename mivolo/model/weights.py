"""Default public weights, resolved through the Hugging Face hub cache (with its progress bars).

Both defaults are resolved together, before anything slow: files already in the hub cache are
used as they are; a missing one is downloaded, but only after a quick check (a few seconds)
that the hub can be reached at all, so an offline machine gets one line naming every missing
file and the flags that take local copies, instead of minutes of retries.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import urlparse

from mivolo.core.errors import MiVOLOError

REACH_TIMEOUT_S = 3.0  # how long the hub gets to answer a connection before it counts as unreachable


@dataclass(frozen=True)
class HubWeights:
    repo_id: str
    filenames: Tuple[str, ...]
    flag: str  # the command-line flag that takes a local copy instead

    def describe(self) -> str:
        return " + ".join(f"{self.repo_id}/{name}" for name in self.filenames)


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


def _cached(weights: HubWeights) -> Optional[List[Path]]:
    """The files' paths in the hub cache, or None when any of them is not there (no network used)."""
    from huggingface_hub import try_to_load_from_cache

    paths = []
    for filename in weights.filenames:
        found = try_to_load_from_cache(weights.repo_id, filename)
        if not isinstance(found, str):
            return None
        paths.append(Path(found))
    return paths


def _unreachable_reason() -> Optional[str]:
    """Why the hub cannot be reached now (offline mode, no name resolution, no connection), or None."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=REACH_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"{endpoint.hostname} cannot be reached: {exc.strerror or exc}"


def _missing_message(missing: List[HubWeights], reason: str) -> str:
    files = "; ".join(f"{weights.describe()} (or pass {weights.flag} PATH)" for weights in missing)
    return (
        f"the default weights are not in the Hugging Face cache and cannot be downloaded ({reason}): {files}. "
        "Download them on a machine with internet and pass the paths, or copy its hub cache here and set HF_HUB_OFFLINE=1"
    )


def _download(weights: HubWeights) -> List[Path]:
    from huggingface_hub import hf_hub_download

    paths = []
    for filename in weights.filenames:
        try:
            paths.append(Path(hf_hub_download(repo_id=weights.repo_id, filename=filename)))
        except Exception as exc:  # HTTP, cache and disk errors all end the same way
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise MiVOLOError(_missing_message([weights], f"{type(exc).__name__}: {reason}")) from exc
    return paths


def resolve_weights(detector_weights=None, checkpoint=None) -> Tuple[Path, Path]:
    """The detector file and the MiVOLO checkpoint to load: the paths given, else the defaults
    from the hub cache, downloading what is missing when the hub can be reached."""
    defaults = [weights for weights, given in ((DEFAULT_DETECTOR, detector_weights), (DEFAULT_MIVOLO, checkpoint)) if not given]
    found = {weights: _cached(weights) for weights in defaults}
    missing = [weights for weights in defaults if found[weights] is None]
    if missing:
        reason = _unreachable_reason()
        if reason is not None:
            raise MiVOLOError(_missing_message(missing, reason))
        found.update({weights: _download(weights) for weights in missing})
    detector = Path(detector_weights) if detector_weights else found[DEFAULT_DETECTOR][0]
    # MiVOLO v2 is the folder holding model.safetensors and config.json
    mivolo = Path(checkpoint) if checkpoint else found[DEFAULT_MIVOLO][0].parent
    return detector, mivolo
