"""Read a Re-ID weight file safely, recognise its architecture, and load it strictly.

Pickled files go through `safe_torch_load` (weights_only, minimal globals); safetensors hold only
tensors. The architecture comes from the caller, else from the file name (BoxMOT's naming), else
from the file's own parameter names and shapes compared with every registered network.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors
from torch import nn

from mivolo.core.errors import CheckpointError
from mivolo.model.checkpoint import load_state_dict_strict, safe_torch_load
from mivolo.reid.architecture import (
    BATCHNORM_COUNTER_SUFFIX,
    ReIDArchitecture,
    architecture_from_filename,
    architectures,
    get_architecture,
)


@dataclass
class LoadedNetwork:
    network: nn.Module  # eval mode, on the CPU
    architecture: ReIDArchitecture
    path: Path


def read_weight_file(path: Path):
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: Re-ID weight file not found")
    if path.suffix == ".safetensors":
        try:
            return load_safetensors(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: cannot read these safetensors weights; truncated or corrupt ({exc})"
            ) from exc
    return safe_torch_load(path, what="Re-ID weight file")


def _with_batchnorm_counters(network: nn.Module, state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """BatchNorm's `num_batches_tracked` only counts training steps; files from older PyTorch lack it."""
    completed = dict(state)
    for key, value in network.state_dict().items():
        if key.endswith(BATCHNORM_COUNTER_SUFFIX) and key not in completed:
            completed[key] = torch.zeros(value.shape, dtype=value.dtype)
    return completed


def _expected_shapes(architecture: ReIDArchitecture) -> Dict[str, tuple]:
    with torch.device("meta"):  # parameter names and shapes only: no memory, no initialisation cost
        network = architecture.build()
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def detect_architecture(path: Path, payload) -> ReIDArchitecture:
    """The architecture named by the file, else the one whose parameters the file matches best."""
    named = architecture_from_filename(Path(path).name)
    if named is not None:
        return named
    best, best_score = None, -1
    for architecture in architectures().values():
        try:
            state = architecture.weight_format.network_state_dict(payload, str(path))
        except CheckpointError:
            continue
        expected = _expected_shapes(architecture)
        matching = sum(1 for key, shape in expected.items() if key in state and tuple(state[key].shape) == shape)
        required = {key for key in expected if not key.endswith(BATCHNORM_COUNTER_SUFFIX)}
        if required <= state.keys() and matching >= len(required) and len(state.keys() - expected.keys()) == 0:
            return architecture
        if matching > best_score:
            best, best_score = architecture, matching
    if best is None or best_score == 0:
        raise CheckpointError(
            f"{path}: not a Re-ID weight file of any known architecture ({', '.join(sorted(architectures()))}); "
            "name the file after its architecture (e.g. osnet_x0_25_msmt17.pt) or pass the architecture"
        )
    return best  # strict loading then names what differs from the closest architecture


def load_network(path, architecture: Optional[str] = None) -> LoadedNetwork:
    """The network of a public Re-ID weight file, loaded strictly (every mismatch is named)."""
    path = Path(path)
    payload = read_weight_file(path)
    chosen = get_architecture(architecture) if architecture else detect_architecture(path, payload)
    source = f"{path} (read as {chosen.name}, {chosen.weight_format.name} format)"
    state = chosen.weight_format.network_state_dict(payload, source)
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        network = chosen.build()
    state = _with_batchnorm_counters(network, state)
    with warnings.catch_warnings():  # copying into meta tensors is a deliberate no-op here: this only checks
        warnings.simplefilter("ignore", UserWarning)
        load_state_dict_strict(network, state, source=source)  # names every missing, unexpected, mis-shaped key
    network.load_state_dict(state, strict=True, assign=True)
    return LoadedNetwork(network=network.float().eval(), architecture=chosen, path=path)
