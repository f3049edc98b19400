"""The Re-ID architecture registry: each network, the file layout its publisher uses, its preprocessing.

Every architecture module registers itself here with the exact parameter names of its public
weight files, so those files load unchanged and strictly. What a publisher stores beside the
inference network (identity classifiers, text encoders, optimiser state) is named per format and
dropped on purpose; every other key must match the network exactly.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple

import torch
from torch import nn

from mivolo.core.errors import CheckpointError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DATA_PARALLEL_PREFIX = "module."
BATCHNORM_COUNTER_SUFFIX = "num_batches_tracked"


@dataclass(frozen=True)
class WeightFormat:
    """How one publisher lays out a weight file around the network's own state_dict."""

    name: str  # "torchreid", "fast-reid", "CLIP-ReID", "timm"
    container_keys: Tuple[str, ...] = ()  # dict keys that may hold the state_dict; a raw state_dict also loads
    unused_prefixes: Tuple[str, ...] = ()  # training-only parts of the file, not used to embed
    legacy_renames: Tuple[Tuple[str, str], ...] = ()  # (old prefix, current prefix) in older releases
    # Shapes of training-only tensors the public files carry: the synthetic writer adds them so tests
    # prove they are dropped (the identity classifier's size depends on the training set).
    training_only_examples: Tuple[Tuple[str, Tuple[int, ...]], ...] = ()

    def network_state_dict(self, payload, source: str) -> Dict[str, torch.Tensor]:
        """The network's tensors from a loaded file: unwrap the container, rename, drop training parts."""
        state = payload
        if isinstance(payload, Mapping):
            for key in self.container_keys:
                if isinstance(payload.get(key), Mapping):
                    state = payload[key]
                    break
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            expected = " or ".join(f"{{'{key}': state_dict}}" for key in self.container_keys) or "a state_dict"
            raise CheckpointError(f"{source}: not a {self.name} weight file: expected {expected} or a raw state_dict")
        cleaned = {}
        for key, tensor in state.items():
            key = key.removeprefix(DATA_PARALLEL_PREFIX)
            for old, new in self.legacy_renames:
                if key.startswith(old):
                    key = new + key[len(old) :]
            if any(key.startswith(prefix) for prefix in self.unused_prefixes):
                continue
            cleaned[key] = tensor
        return cleaned

    def wrap(self, network_state: Mapping[str, torch.Tensor], training_only: Mapping[str, torch.Tensor]):
        """The object the publisher saves: the inverse of `network_state_dict` (used for synthetic files)."""
        state = {**network_state, **training_only}
        return {self.container_keys[0]: state} if self.container_keys else state


# MSMT17 has 4101 training identities: the classifier size in the public MSMT17-trained files
MSMT17_IDENTITIES = 4101


def torchreid_format(embedding_dim: int) -> WeightFormat:
    """torchreid / BoxMOT: the network's state_dict, raw or under 'state_dict', plus `classifier.*`."""
    return WeightFormat(
        name="torchreid",
        container_keys=("state_dict",),
        unused_prefixes=("classifier.",),
        training_only_examples=(
            ("classifier.weight", (MSMT17_IDENTITIES, embedding_dim)),
            ("classifier.bias", (MSMT17_IDENTITIES,)),
        ),
    )


@dataclass(frozen=True)
class ReIDArchitecture:
    """One Re-ID network: how to build it, which file layout it reads, how crops are prepared."""

    name: str  # e.g. "osnet_x0_25"
    family: str  # e.g. "OSNet"
    build: Callable[[], nn.Module]  # the inference network (random weights), forward(N,3,H,W) -> (N, dim)
    embedding_dim: int
    weight_format: WeightFormat
    input_size: Tuple[int, int] = (256, 128)  # (height, width)
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    file_suffix: str = ".pt"


_REGISTRY: Dict[str, ReIDArchitecture] = {}
# one module per architecture; importing one registers its variants
_ARCHITECTURE_MODULES = ("osnet", "osnet_ain", "mobilenetv2", "resnet", "resnest", "clip_vit", "convnext")


def register(architecture: ReIDArchitecture) -> ReIDArchitecture:
    if architecture.name in _REGISTRY:
        raise ValueError(f"Re-ID architecture {architecture.name!r} is registered twice")
    _REGISTRY[architecture.name] = architecture
    return architecture


def architectures() -> Dict[str, ReIDArchitecture]:
    """All registered architectures, by name (importing the package registers them)."""
    for module in _ARCHITECTURE_MODULES:
        importlib.import_module(f"mivolo.reid.{module}")
    return dict(_REGISTRY)


def get_architecture(name: str) -> ReIDArchitecture:
    known = architectures()
    if name not in known:
        raise CheckpointError(f"unknown Re-ID architecture {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def architecture_from_filename(filename: str) -> Optional[ReIDArchitecture]:
    """The architecture a file name starts with (BoxMOT's convention: `osnet_x0_25_msmt17.pt`).

    The longest matching name wins, so `osnet_ain_x1_0_...` is not taken for a plain OSNet.
    """
    stem = filename.lower()
    matches = [arch for name, arch in architectures().items() if stem.startswith(name)]
    return max(matches, key=lambda arch: len(arch.name)) if matches else None


def parameter_count(network: nn.Module) -> int:
    return sum(parameter.numel() for parameter in network.parameters())
