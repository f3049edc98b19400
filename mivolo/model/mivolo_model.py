"""MiVOLO network: timm VOLO-D1 with a face+body patch embedding and a cross-attention fusion block.

Parameter names follow the published checkpoints exactly (see shared spec, section 1), so
public weight files load strictly. Only public timm APIs are used, always with keywords.
The Outlookers' attention folds without `F.fold` (col2im) while exporting, so that the network
exports to ONNX; in PyTorch it keeps `F.fold`, which is faster on a CPU.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from timm.layers.bottleneck_attn import PosEmbedRel
from timm.models.volo import VOLO, Outlooker, OutlookAttention, PatchEmbed
from torch import nn

# VOLO-D1 hyper-parameters shared by every MiVOLO variant.
VOLO_D1_ARGS = dict(
    layers=(4, 4, 8, 2),
    embed_dims=(192, 384, 384, 384),
    num_heads=(6, 12, 12, 12),
    patch_size=8,
    stem_hidden_dim=64,
    mlp_ratio=3.0,
    qkv_bias=False,
    downsamples=(True, False, False, False),
    outlook_attention=(True, False, False, False),
    post_layers=("ca", "ca"),
    use_aux_head=True,
    pooling_scale=2,
    global_pool="token",
)
SUPPORTED_INPUT_SIZES = (224, 384)
FACE_BODY_CHANNELS = 6
FACE_CHANNELS = 3


def fold_patches(
    columns: torch.Tensor, output_size: Tuple[int, int], kernel_size: int, padding: int, stride: int
) -> torch.Tensor:
    """`F.fold` (col2im) rebuilt from pads, reshapes and adds, which every ONNX runtime supports.

    columns: B x (C * k * k) x L, as `F.fold` takes it. Each of the k*k kernel offsets is spread
    onto a zero canvas at stride `stride` and shifted by its offset; the canvases are summed in
    kernel order, the order in which col2im accumulates, so on the CPU the result equals `F.fold`
    bit for bit (elsewhere to the last bit of fp32 rounding).
    """
    batch = columns.shape[0]
    height, width = output_size
    rows = (height + 2 * padding - kernel_size) // stride + 1
    cols = (width + 2 * padding - kernel_size) // stride + 1
    padded_h, padded_w = height + 2 * padding, width + 2 * padding
    patches = columns.reshape(batch, -1, kernel_size, kernel_size, rows, cols)
    canvas = columns.new_zeros((batch, patches.shape[1], padded_h, padded_w))
    for ki in range(kernel_size):
        for kj in range(kernel_size):
            piece = patches[:, :, ki, kj]
            # interleave stride-1 zeros after every value: B x C x (rows * stride) x (cols * stride)
            spread = F.pad(piece[:, :, :, None, :, None], (0, stride - 1, 0, 0, 0, stride - 1))
            spread = spread.reshape(batch, -1, rows * stride, cols * stride)
            spread = spread[:, :, : padded_h - ki, : padded_w - kj]
            canvas = canvas + F.pad(
                spread, (kj, padded_w - kj - spread.shape[-1], ki, padded_h - ki - spread.shape[-2])
            )
    return canvas[:, :, padding : padding + height, padding : padding + width]


class ExportableOutlookAttention(OutlookAttention):
    """timm's OutlookAttention (same parameters, same output) whose fold is `fold_patches` while
    exporting to ONNX, or when `fold_with_patches` is set, and `F.fold` otherwise: on a CPU
    `F.fold` is faster (benchmarks/forward_profile.py: 119 against 138 ms for the four Outlookers
    at batch 8, 2 threads) and the two are equal bit for bit there."""

    fold_with_patches = False

    @classmethod
    def from_timm(cls, attention: OutlookAttention) -> "ExportableOutlookAttention":
        replacement = cls(
            dim=attention.v.in_features,
            num_heads=attention.num_heads,
            kernel_size=attention.kernel_size,
            padding=attention.padding,
            stride=attention.stride,
            qkv_bias=attention.v.bias is not None,
            attn_drop=attention.attn_drop.p,
        )
        replacement.load_state_dict(attention.state_dict(), strict=True)  # keeps timm's initialisation
        return replacement

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        kernel_area = self.kernel_size * self.kernel_size
        rows, cols = math.ceil(height / self.stride), math.ceil(width / self.stride)
        head_dim = channels // self.num_heads

        v = self.unfold(self.v(x).permute(0, 3, 1, 2))
        v = v.reshape(batch, self.num_heads, head_dim, kernel_area, rows * cols).permute(0, 1, 4, 3, 2)

        attn = self.pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        attn = self.attn(attn).reshape(batch, rows * cols, self.num_heads, kernel_area, kernel_area)
        attn = self.attn_drop((attn.permute(0, 2, 1, 3, 4) * self.scale).softmax(dim=-1))

        out = (attn @ v).permute(0, 1, 4, 3, 2).reshape(batch, channels * kernel_area, rows * cols)
        if self.fold_with_patches or torch.onnx.is_in_onnx_export():
            out = fold_patches(out, (height, width), self.kernel_size, self.padding, self.stride)
        else:
            out = F.fold(out, (height, width), self.kernel_size, padding=self.padding, stride=self.stride)
        return self.proj_drop(self.proj(out.permute(0, 2, 3, 1)))


class CrossBottleneckAttn(nn.Module):
    """Face <-> body cross attention over the two patch maps (the checkpoint's `patch_embed.map`).

    One head of width `dim`; face queries attend to body keys/values and vice versa. The two
    results are normalised jointly and fused to `dim` channels by a 1x1-conv MLP. There is no
    residual connection in the published network.
    """

    def __init__(self, dim: int, feat_size: Tuple[int, int], mlp_ratio: float = 4.0):
        super().__init__()
        self.dim = dim
        self.scale = dim**-0.5
        self.qkv_f = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=False)
        self.qkv_p = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=False)
        self.pos_embed = PosEmbedRel(feat_size=feat_size, dim_head=dim, scale=self.scale)
        self.norm = nn.LayerNorm([dim * 2, *feat_size])
        self.mlp = Mlp(
            in_features=dim * 2,
            hidden_features=int(dim * mlp_ratio),
            out_features=dim,
            act_layer=nn.GELU,
            use_conv=True,
        )

    def _split_qkv(self, x: torch.Tensor, qkv: nn.Conv2d):
        batch = x.shape[0]
        q, k, v = torch.split(qkv(x), self.dim, dim=1)
        # tokens-major q and v, channel-major k so that q @ k is the logit matrix
        return (
            q.reshape(batch, self.dim, -1).transpose(-1, -2),
            k.reshape(batch, self.dim, -1),
            v.reshape(batch, self.dim, -1).transpose(-1, -2),
        )

    def _attend(self, q, k, v, height: int, width: int) -> torch.Tensor:
        # softmax(q k * scale + rel_pos(q)) v. On a GPU (and in exports) torch fuses it, with the
        # relative-position logits as the additive mask: at 384 the logit matrix is 2,304 x 2,304
        # per crop. On a CPU the written-out form is faster (benchmarks/forward_profile.py: 127
        # against 156 ms for the block at batch 8, 2 threads) and is the original's arithmetic.
        fused = q.device.type != "cpu" or torch.onnx.is_in_onnx_export()
        out = self._attend_fused(q, k, v) if fused else self._attend_explicit(q, k, v)
        return out.transpose(-1, -2).reshape(q.shape[0], self.dim, height, width)

    def _attend_fused(self, q, k, v) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k.transpose(-1, -2), v, attn_mask=self.pos_embed(q), scale=self.scale)

    def _attend_explicit(self, q, k, v) -> torch.Tensor:
        logits = (q @ k) * self.scale + self.pos_embed(q)
        return logits.softmax(dim=-1) @ v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        face, body = x[:, : self.dim], x[:, self.dim :]
        q_f, k_f, v_f = self._split_qkv(face, self.qkv_f)
        q_p, k_p, v_p = self._split_qkv(body, self.qkv_p)
        fused = torch.cat(
            (self._attend(q_f, k_p, v_p, height, width), self._attend(q_p, k_f, v_f, height, width)),
            dim=1,
        )
        return self.mlp(self.norm(fused))


class FaceBodyPatchEmbed(nn.Module):
    """Two VOLO stems (face: channels 0-2, body: 3-5) joined by the cross-attention block."""

    def __init__(self, img_size: int, patch_size: int = 8, hidden_dim: int = 64, embed_dim: int = 192):
        super().__init__()
        stems = [
            PatchEmbed(
                img_size=img_size,
                stem_conv=True,
                stem_stride=2,
                patch_size=patch_size,
                in_chans=3,
                hidden_dim=hidden_dim,
                embed_dim=embed_dim,
            )
            for _ in range(2)
        ]
        # timm's stems, re-registered under the checkpoint's names
        self.conv1, self.proj1 = stems[0].conv, stems[0].proj
        self.conv2, self.proj2 = stems[1].conv, stems[1].proj
        grid = img_size // patch_size
        self.map = CrossBottleneckAttn(dim=embed_dim, feat_size=(grid, grid))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        face = self.proj1(self.conv1(x[:, :3]))
        body = self.proj2(self.conv2(x[:, 3:]))
        return self.map(torch.cat((face, body), dim=1))


class MiVOLOModel(VOLO):
    """VOLO-D1 whose patch embedding takes a face crop and, for 6 channels, a body crop.

    With 3 input channels this is plain timm VOLO-D1 (the published face-only "volo_d1").
    Output: C logits (C = 3: two gender logits then normalised age; C = 1: age only).
    """

    def __init__(self, img_size: int = 224, in_chans: int = FACE_BODY_CHANNELS, num_classes: int = 3):
        if img_size not in SUPPORTED_INPUT_SIZES:
            raise ValueError(f"MiVOLO input size must be one of {SUPPORTED_INPUT_SIZES}, got {img_size}")
        if in_chans not in (FACE_CHANNELS, FACE_BODY_CHANNELS):
            raise ValueError(f"MiVOLO takes 3 (face) or 6 (face+body) channels, got {in_chans}")
        super().__init__(img_size=img_size, in_chans=FACE_CHANNELS, num_classes=num_classes, **VOLO_D1_ARGS)
        self.img_size = img_size
        self.in_chans = in_chans
        self.num_classes = num_classes
        if in_chans == FACE_BODY_CHANNELS:
            self.patch_embed = FaceBodyPatchEmbed(
                img_size=img_size,
                patch_size=VOLO_D1_ARGS["patch_size"],
                hidden_dim=VOLO_D1_ARGS["stem_hidden_dim"],
                embed_dim=VOLO_D1_ARGS["embed_dims"][0],
            )
        # same parameters; the fold that ONNX can express while exporting
        for block in self.modules():
            if isinstance(block, Outlooker):
                block.attn = ExportableOutlookAttention.from_timm(block.attn)


def create_mivolo(input_size: int, in_chans: int, num_classes: int) -> MiVOLOModel:
    """Build an (uninitialised for inference) MiVOLO network of the given variant."""
    return MiVOLOModel(img_size=input_size, in_chans=in_chans, num_classes=num_classes)


def variant_name(input_size: int, in_chans: int) -> str:
    """The published architecture name: mivolo_d1_<S> for face+body, volo_d1_<S> for faces."""
    return f"{'mivolo' if in_chans == FACE_BODY_CHANNELS else 'volo'}_d1_{input_size}"
