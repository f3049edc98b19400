"""ResNet-50 in torchreid's layout (torchreid model zoo; BoxMOT's `resnet50_*.pt`).

torchreid's `resnet50` is torchvision's ResNet-50 (v1.5, stride on the 3x3 conv, last stride 2)
with the ImageNet `fc` replaced by an identity classifier `classifier.*`; with `fc_dims=None` the
embedding is the 2048-d global average pool. torchvision builds the identical parameter names.
"""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet50

from mivolo.reid.architecture import ReIDArchitecture, register, torchreid_format

EMBEDDING_DIM = 2048


def build_resnet50() -> nn.Module:
    network = resnet50(weights=None)
    network.fc = nn.Identity()  # the pooled features are the embedding
    return network


register(
    ReIDArchitecture(
        name="resnet50",
        family="ResNet",
        build=build_resnet50,
        embedding_dim=EMBEDDING_DIM,
        weight_format=torchreid_format(EMBEDDING_DIM),
    )
)
