"""CLIP ViT-B/16 image encoder in the CLIP-ReID layout (CLIP-ReID's `ViT-B-16_60.pth`; BoxMOT's `clip_market1501.pt`).

CLIP-ReID saves its whole model's state_dict: the CLIP visual transformer under `image_encoder.`
(patch stride 16 on 256x128 crops: a 16x8 grid + class token = 129 positions), plus what only
training uses: text encoder, learned prompts, BNNecks and identity classifiers. As CLIP-ReID's
person test config does (TEST.NECK_FEAT 'before', pixel mean/std 0.5), the embedding is the
class token after `ln_post` (768) concatenated with its projection by `proj` (512): 1280-d.
"""

from __future__ import annotations

import torch
from torch import nn

from mivolo.reid.architecture import ReIDArchitecture, WeightFormat, register

WIDTH = 768
LAYERS = 12
HEADS = 12
PATCH = 16
PROJECTION_DIM = 512
INPUT_SIZE = (256, 128)
GRID = (INPUT_SIZE[0] // PATCH, INPUT_SIZE[1] // PATCH)
EMBEDDING_DIM = WIDTH + PROJECTION_DIM
MARKET1501_IDENTITIES = 751

CLIP_REID_FORMAT = WeightFormat(
    name="CLIP-ReID",
    unused_prefixes=(
        "classifier.",
        "classifier_proj.",
        "bottleneck.",
        "bottleneck_proj.",
        "prompt_learner.",
        "text_encoder.",
        "cv_embed",
    ),
    training_only_examples=(
        ("classifier.weight", (MARKET1501_IDENTITIES, WIDTH)),
        ("classifier_proj.weight", (MARKET1501_IDENTITIES, PROJECTION_DIM)),
        ("bottleneck.weight", (WIDTH,)),
        ("bottleneck_proj.weight", (PROJECTION_DIM,)),
        ("prompt_learner.cls_ctx", (MARKET1501_IDENTITIES, 4, PROJECTION_DIM)),
        ("text_encoder.positional_embedding", (77, PROJECTION_DIM)),
    ),
)


class QuickGELU(nn.Module):
    """CLIP's activation: x * sigmoid(1.702 x)."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x):
        normed = self.ln_1(x)
        x = x + self.attn(normed, normed, normed, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """CLIP's visual transformer with a rectangular position grid for person crops."""

    def __init__(self):
        super().__init__()
        scale = WIDTH**-0.5
        self.conv1 = nn.Conv2d(3, WIDTH, kernel_size=PATCH, stride=PATCH, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(WIDTH))
        self.positional_embedding = nn.Parameter(scale * torch.randn(GRID[0] * GRID[1] + 1, WIDTH))
        self.ln_pre = nn.LayerNorm(WIDTH)
        self.transformer = Transformer(WIDTH, LAYERS, HEADS)
        self.ln_post = nn.LayerNorm(WIDTH)
        self.proj = nn.Parameter(scale * torch.randn(WIDTH, PROJECTION_DIM))

    def forward(self, x):
        tokens = self.conv1(x).flatten(2).transpose(1, 2)  # N, grid cells, width
        class_token = self.class_embedding.to(tokens.dtype).expand(tokens.shape[0], 1, -1)
        tokens = torch.cat([class_token, tokens], dim=1) + self.positional_embedding.to(tokens.dtype)
        tokens = self.ln_post(self.transformer(self.ln_pre(tokens)))
        cls = tokens[:, 0]
        return torch.cat([cls, cls @ self.proj], dim=1)


class CLIPReIDImageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_encoder = VisionTransformer()

    def forward(self, x):
        return self.image_encoder(x)


register(
    ReIDArchitecture(
        name="clip_vit_b16",
        family="CLIP-ReID",
        build=CLIPReIDImageModel,
        embedding_dim=EMBEDDING_DIM,
        weight_format=CLIP_REID_FORMAT,
        input_size=INPUT_SIZE,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
)
