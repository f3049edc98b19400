"""Random-weight Re-ID networks saved exactly as their publishers save them (for tests and benchmarks).

No real weights can ship with the project, so tests build each network with random weights and
write it in its public layout: the same parameter names and nesting, the container dict of its
format, and the training-only tensors (identity classifier, text encoder, ...) that the loader
must drop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import save_file as save_safetensors
from torch import nn

from mivolo.io.safe_output import atomic_path
from mivolo.reid.architecture import get_architecture


def random_network(architecture: str, seed: int = 0) -> nn.Module:
    """The network with random weights and random BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    network = get_architecture(architecture).build()
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(1000)
    return network.eval()


def write_public_weights(architecture: str, path, seed: int = 0, network: Optional[nn.Module] = None) -> Path:
    """Save `network` (random if None) in the public file layout of `architecture`'s publisher."""
    spec = get_architecture(architecture)
    network = network if network is not None else random_network(architecture, seed)
    generator = torch.Generator().manual_seed(seed)
    training_only = {
        key: torch.randn(shape, generator=generator) for key, shape in spec.weight_format.training_only_examples
    }
    payload = spec.weight_format.wrap(network.state_dict(), training_only)
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".safetensors":
            save_safetensors({key: value.contiguous() for key, value in payload.items()}, str(tmp))
        else:
            torch.save(payload, tmp)
    return path
