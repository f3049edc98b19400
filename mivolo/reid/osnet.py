"""OSNet (Zhou et al., ICCV 2019) with torchreid's parameter names, widths x1_0 / x0_75 / x0_5 / x0_25.

The torchreid model zoo and BoxMOT's `osnet_*` files hold this network's state_dict (raw or under
'state_dict') plus the identity classifier `classifier.*` that only training uses. The embedding
is the 512-d output of the `fc` block (Linear + BatchNorm1d + ReLU) after global average pooling.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn
from torch.nn import functional as F

from mivolo.reid.architecture import ReIDArchitecture, register, torchreid_format

EMBEDDING_DIM = 512


class ConvNormReLU(nn.Module):
    """conv (no bias) + BatchNorm (or affine InstanceNorm) + ReLU; torchreid's ConvLayer/Conv1x1/Conv3x3."""

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, padding=0, instance_norm=False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.InstanceNorm2d(out_channels, affine=True) if instance_norm else nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Conv1x1Linear(nn.Module):
    """1x1 conv (+ BatchNorm), no activation."""

    def __init__(self, in_channels, out_channels, with_bn=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels) if with_bn else None

    def forward(self, x):
        x = self.conv(x)
        return self.bn(x) if self.bn is not None else x


class LightConv3x3(nn.Module):
    """Pointwise conv then depthwise 3x3, BatchNorm, ReLU."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False, groups=channels)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv2(self.conv1(x))))


def light_stream(channels: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*[LightConv3x3(channels) for _ in range(depth)])


class ChannelGate(nn.Module):
    """Input-conditioned channel weights (squeeze 16x, sigmoid), shared by all scale streams."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=True)

    def forward(self, x):
        weights = F.adaptive_avg_pool2d(x, 1)
        return x * self.fc2(F.relu(self.fc1(weights))).sigmoid()


class OSBlock(nn.Module):
    """Omni-scale residual block: four streams of 1-4 light convs fused by the channel gate."""

    def __init__(self, in_channels, out_channels, bottleneck_reduction=4):
        super().__init__()
        mid = out_channels // bottleneck_reduction
        self.conv1 = ConvNormReLU(in_channels, mid)
        self.conv2a = LightConv3x3(mid)
        self.conv2b = light_stream(mid, 2)
        self.conv2c = light_stream(mid, 3)
        self.conv2d = light_stream(mid, 4)
        self.gate = ChannelGate(mid)
        self.conv3 = Conv1x1Linear(mid, out_channels)
        self.downsample = Conv1x1Linear(in_channels, out_channels) if in_channels != out_channels else None

    def forward(self, x):
        x1 = self.conv1(x)
        fused = sum(self.gate(stream(x1)) for stream in (self.conv2a, self.conv2b, self.conv2c, self.conv2d))
        identity = self.downsample(x) if self.downsample is not None else x
        return F.relu(self.conv3(fused) + identity)


def transition(channels: int) -> nn.Sequential:
    """1x1 conv then 2x2 average pooling: halves the feature map between stages."""
    return nn.Sequential(ConvNormReLU(channels, channels), nn.AvgPool2d(2, stride=2))


def embedding_fc(in_features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, EMBEDDING_DIM), nn.BatchNorm1d(EMBEDDING_DIM), nn.ReLU())


class OSNet(nn.Module):
    def __init__(self, channels: Sequence[int]):
        super().__init__()
        c0, c1, c2, c3 = channels
        self.conv1 = ConvNormReLU(3, c0, 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = nn.Sequential(OSBlock(c0, c1), OSBlock(c1, c1), transition(c1))
        self.conv3 = nn.Sequential(OSBlock(c1, c2), OSBlock(c2, c2), transition(c2))
        self.conv4 = nn.Sequential(OSBlock(c2, c3), OSBlock(c3, c3))
        self.conv5 = ConvNormReLU(c3, c3)
        self.fc = embedding_fc(c3)

    def forward(self, x):
        x = self.conv5(self.conv4(self.conv3(self.conv2(self.maxpool(self.conv1(x))))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


WIDTHS = {
    "osnet_x1_0": (64, 256, 384, 512),
    "osnet_x0_75": (48, 192, 288, 384),
    "osnet_x0_5": (32, 128, 192, 256),
    "osnet_x0_25": (16, 64, 96, 128),
}

for _name, _channels in WIDTHS.items():
    register(
        ReIDArchitecture(
            name=_name,
            family="OSNet",
            build=lambda channels=_channels: OSNet(channels),
            embedding_dim=EMBEDDING_DIM,
            weight_format=torchreid_format(EMBEDDING_DIM),
        )
    )
