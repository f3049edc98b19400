"""ResNeSt-50 in fast-reid's layout (fast-reid model zoo `market_bot_S50.pth`, "BoT(S50)").

fast-reid saves `{'model': state_dict, 'optimizer': ..., 'scheduler': ..., 'iteration': ...}`. Its
Baseline holds the backbone under `backbone.` and the BNNeck under `heads.bottleneck.0.` (older
releases: `heads.bnneck.`); the identity classifier (`heads.classifier.*` or `heads.weight`) and
the pixel mean/std buffers (ImageNet statistics on a 0-255 scale) are not needed to embed.

The backbone is ResNeSt-50 with a deep stem and average-pool shortcuts: timm's `resnest50d` has the
same parameter names. fast-reid's BoT recipe sets the last stride to 1, which changes no weight,
only layer4's first block: its two average pools stop downsampling. At test time the embedding
is the 2048-d global average pool after the BNNeck.
"""

from __future__ import annotations

import timm
from torch import nn
from torch.nn import functional as F

from mivolo.reid.architecture import ReIDArchitecture, WeightFormat, register

EMBEDDING_DIM = 2048
MARKET1501_IDENTITIES = 751

FASTREID_FORMAT = WeightFormat(
    name="fast-reid",
    container_keys=("model",),
    unused_prefixes=("heads.classifier.", "heads.weight", "pixel_mean", "pixel_std"),
    legacy_renames=(("heads.bnneck.", "heads.bottleneck.0."),),
    training_only_examples=(
        ("heads.weight", (MARKET1501_IDENTITIES, EMBEDDING_DIM)),
        ("pixel_mean", (1, 3, 1, 1)),
        ("pixel_std", (1, 3, 1, 1)),
    ),
)


def resnest50_last_stride_1() -> nn.Module:
    backbone = timm.create_model("resnest50d", pretrained=False, num_classes=0, global_pool="")
    first_block = backbone.layer4[0]
    # fast-reid's block keeps its 3x3 smoothing pool at stride 1 and a 1x1 (identity) shortcut pool
    first_block.avd_last = nn.AvgPool2d(3, stride=1, padding=1)
    first_block.downsample[0] = nn.AvgPool2d(1, stride=1, ceil_mode=True, count_include_pad=False)
    return backbone


class BNNeckHead(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bottleneck = nn.Sequential(nn.BatchNorm2d(channels))

    def forward(self, feature_map):
        return self.bottleneck(F.adaptive_avg_pool2d(feature_map, 1)).flatten(1)


class FastReIDBaseline(nn.Module):
    """fast-reid's Baseline at test time: backbone, global average pool, BNNeck."""

    def __init__(self):
        super().__init__()
        self.backbone = resnest50_last_stride_1()
        self.heads = BNNeckHead(EMBEDDING_DIM)

    def forward(self, x):
        return self.heads(self.backbone(x))


register(
    ReIDArchitecture(
        name="resnest50",
        family="ResNeSt",
        build=FastReIDBaseline,
        embedding_dim=EMBEDDING_DIM,
        weight_format=FASTREID_FORMAT,
        file_suffix=".pth",
    )
)
