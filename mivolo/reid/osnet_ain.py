"""OSNet-AIN x1_0 (Zhou et al., TPAMI 2021) with torchreid's parameter names.

Instance normalisation is placed where the architecture search found it generalises across
domains: in the stem and inside the residual branch of the `IN`-marked blocks. Its blocks hold
the four scale streams as a ModuleList of `layers` Sequentials, unlike plain OSNet, so the
parameter names differ (`conv2.3.layers.0.conv1.weight`). Same torchreid file layout as OSNet.
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from mivolo.reid.architecture import ReIDArchitecture, register, torchreid_format
from mivolo.reid.osnet import (
    EMBEDDING_DIM,
    ChannelGate,
    Conv1x1Linear,
    ConvNormReLU,
    embedding_fc,
    light_stream,
    transition,
)

STREAMS = 4  # scale streams of depth 1..4


class LightConvStream(nn.Module):
    def __init__(self, channels: int, depth: int):
        super().__init__()
        self.layers = light_stream(channels, depth)

    def forward(self, x):
        return self.layers(x)


class AINBlock(nn.Module):
    """Omni-scale block; with `instance_norm` the residual branch ends in InstanceNorm instead of BN."""

    def __init__(self, in_channels, out_channels, instance_norm: bool, reduction=4):
        super().__init__()
        mid = out_channels // reduction
        self.conv1 = ConvNormReLU(in_channels, mid)
        self.conv2 = nn.ModuleList(LightConvStream(mid, depth) for depth in range(1, STREAMS + 1))
        self.gate = ChannelGate(mid)
        self.conv3 = Conv1x1Linear(mid, out_channels, with_bn=not instance_norm)
        self.downsample = Conv1x1Linear(in_channels, out_channels) if in_channels != out_channels else None
        if instance_norm:
            self.IN = nn.InstanceNorm2d(out_channels, affine=True)
        else:
            self.IN = None

    def forward(self, x):
        x1 = self.conv1(x)
        branch = self.conv3(sum(self.gate(stream(x1)) for stream in self.conv2))
        if self.IN is not None:
            branch = self.IN(branch)
        identity = self.downsample(x) if self.downsample is not None else x
        return F.relu(branch + identity)


class OSNetAIN(nn.Module):
    def __init__(self, channels=(64, 256, 384, 512)):
        super().__init__()
        c0, c1, c2, c3 = channels
        self.conv1 = ConvNormReLU(3, c0, 7, stride=2, padding=3, instance_norm=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        # which blocks carry instance norm is the published x1_0 design
        self.conv2 = nn.Sequential(AINBlock(c0, c1, True), AINBlock(c1, c1, True))
        self.pool2 = transition(c1)
        self.conv3 = nn.Sequential(AINBlock(c1, c2, False), AINBlock(c2, c2, True))
        self.pool3 = transition(c2)
        self.conv4 = nn.Sequential(AINBlock(c2, c3, True), AINBlock(c3, c3, False))
        self.conv5 = ConvNormReLU(c3, c3)
        self.fc = embedding_fc(c3)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.pool3(self.conv3(x))
        x = self.conv5(self.conv4(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


register(
    ReIDArchitecture(
        name="osnet_ain_x1_0",
        family="OSNet-AIN",
        build=OSNetAIN,
        embedding_dim=EMBEDDING_DIM,
        weight_format=torchreid_format(EMBEDDING_DIM),
    )
)
