"""ConvNeXt-Tiny via timm, as timm publishes it on the Hugging Face hub (`model.safetensors`).

A generic ImageNet appearance encoder, not trained for person Re-ID: the embedding is timm's
pre-logits feature (global average pool + LayerNorm, 768-d); only the ImageNet classifier
`head.fc.*` is dropped. Crops are 256x128 like the Re-ID networks (ConvNeXt takes any size that
is a multiple of 32).
"""

from __future__ import annotations

import timm
from torch import nn

from mivolo.reid.architecture import ReIDArchitecture, WeightFormat, register

EMBEDDING_DIM = 768
IMAGENET_CLASSES = 1000

TIMM_FORMAT = WeightFormat(
    name="timm",
    unused_prefixes=("head.fc.",),
    training_only_examples=(
        ("head.fc.weight", (IMAGENET_CLASSES, EMBEDDING_DIM)),
        ("head.fc.bias", (IMAGENET_CLASSES,)),
    ),
)


def build_convnext_tiny() -> nn.Module:
    return timm.create_model("convnext_tiny", pretrained=False, num_classes=0)


register(
    ReIDArchitecture(
        name="convnext_tiny",
        family="ConvNeXt",
        build=build_convnext_tiny,
        embedding_dim=EMBEDDING_DIM,
        weight_format=TIMM_FORMAT,
        file_suffix=".safetensors",
    )
)
