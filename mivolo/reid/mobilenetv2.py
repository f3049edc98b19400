"""MobileNetV2 x1_0 / x1_4 for Re-ID with torchreid's parameter names.

torchreid's variant has no fc block: the embedding is the globally average-pooled output of
`conv9` (1280-d at x1_0, int(1280 * 1.4) = 1792-d at x1_4). Channel widths are `int(c * width)`.
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from mivolo.reid.architecture import ReIDArchitecture, register, torchreid_format

# (expansion, output channels at x1_0, blocks, first stride) per stage conv2..conv8
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class ConvBlock(nn.Module):
    """conv (no bias) + BatchNorm + ReLU6."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return F.relu6(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Inverted residual: expand 1x1, depthwise 3x3, linear 1x1 projection."""

    def __init__(self, in_channels, out_channels, expansion, stride=1):
        super().__init__()
        mid = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        self.conv1 = ConvBlock(in_channels, mid, 1)
        self.dwconv2 = ConvBlock(mid, mid, 3, stride, 1, groups=mid)
        self.conv3 = nn.Sequential(nn.Conv2d(mid, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.conv3(self.dwconv2(self.conv1(x)))
        return x + out if self.use_residual else out


def feature_dim(width: float) -> int:
    return int(1280 * width) if width > 1 else 1280


class MobileNetV2(nn.Module):
    def __init__(self, width: float):
        super().__init__()
        channels = int(32 * width)
        self.conv1 = ConvBlock(3, channels, 3, stride=2, padding=1)
        for index, (expansion, base_out, blocks, stride) in enumerate(STAGES, start=2):
            out = int(base_out * width)
            stage = [Bottleneck(channels, out, expansion, stride)]
            stage += [Bottleneck(out, out, expansion) for _ in range(blocks - 1)]
            setattr(self, f"conv{index}", nn.Sequential(*stage))
            channels = out
        self.conv9 = ConvBlock(channels, feature_dim(width), 1)
        self.stages = [f"conv{index}" for index in range(1, 10)]

    def forward(self, x):
        for stage in self.stages:
            x = getattr(self, stage)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


for _name, _width in (("mobilenetv2_x1_0", 1.0), ("mobilenetv2_x1_4", 1.4)):
    _dim = feature_dim(_width)
    register(
        ReIDArchitecture(
            name=_name,
            family="MobileNetV2",
            build=lambda width=_width: MobileNetV2(width),
            embedding_dim=_dim,
            weight_format=torchreid_format(_dim),
        )
    )
