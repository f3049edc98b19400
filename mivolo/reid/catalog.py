"""The Re-ID models this project can download: each one's real public source, training set and license.

Only models whose public download address was established are listed. A sha256 is pinned only
where a published value is known; the others say so, and `--download` then reports the sha256
of what it received so that it can be recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from mivolo.core.errors import MiVOLOError

SPEED_TIERS = ("edge", "fast", "medium", "slow", "slowest")  # fastest first
GOALS = ("speed", "balanced", "accuracy", "edge")

TORCHREID_ZOO = "torchreid model zoo (docs/MODEL_ZOO.md), Rank-1 (mAP) %"
DRIVE = "https://drive.google.com/uc?id="
OSNET_HF = "https://huggingface.co/kaiyangzhou/osnet/resolve/main/"
OSNET_HF_SUFFIX = "_msmt17_combineall_256x128_amsgrad_ep150_stp60_lr0.0015_b64_fb10_softmax_labelsmooth_flip_jitter.pth"


@dataclass(frozen=True)
class ReIDModelCard:
    name: str
    architecture: str  # a key of mivolo.reid.architecture.architectures()
    url: str
    filename: str  # in the Re-ID models folder (mivolo.reid.store.models_dir)
    training_set: str
    license: str
    published_accuracy: str
    speed_tier: str
    sha256: Optional[str] = None
    publisher: str = ""
    size: Optional[int] = None  # published file size in bytes, where known: it bounds --download

    @property
    def checksum_status(self) -> str:
        if self.sha256:
            return f"sha256 {self.sha256} (pinned)"
        return "sha256 not pinned: no published checksum could be established here; --download prints the one received"


_CARDS: Tuple[ReIDModelCard, ...] = (
    ReIDModelCard(
        name="osnet_x0_25_msmt17",
        architecture="osnet_x0_25",
        url=OSNET_HF + "osnet_x0_25" + OSNET_HF_SUFFIX,
        filename="osnet_x0_25_msmt17.pth",
        training_set="MSMT17, all images (combineall)",
        license="MIT (torchreid); MSMT17 images are for non-commercial research",
        published_accuracy=f"MSMT17 -> Market1501 59.9 (31.0), -> DukeMTMC 61.5 (39.6); {TORCHREID_ZOO}",
        speed_tier="edge",
        # the Hugging Face LFS object id of this file (9,336,983 bytes), as recorded by projects that pin it
        sha256="cf55163d78fc44c62c82f85ab62d39f10438679b5abe8c698ae08cfa84aa6e18",
        publisher="Kaiyang Zhou (torchreid), Hugging Face kaiyangzhou/osnet",
        size=9_336_983,
    ),
    ReIDModelCard(
        name="osnet_x0_5_msmt17",
        architecture="osnet_x0_5",
        url=DRIVE + "1UT3AxIaDvS2PdxzZmbkLmjtiqq7AIKCv",
        filename="osnet_x0_5_msmt17.pt",
        training_set="MSMT17",
        license="MIT (torchreid); MSMT17 images are for non-commercial research",
        published_accuracy=f"MSMT17 69.7 (37.5) same-domain, 64.3 (34.9) MSMT17-all -> Market1501; {TORCHREID_ZOO}",
        speed_tier="fast",
        publisher="torchreid model zoo, mirrored by BoxMOT",
    ),
    ReIDModelCard(
        name="osnet_x0_75_msmt17",
        architecture="osnet_x0_75",
        url=DRIVE + "1QEGO6WnJ-BmUzVPd3q9NoaO_GsPNlmWc",
        filename="osnet_x0_75_msmt17.pt",
        training_set="MSMT17",
        license="MIT (torchreid); MSMT17 images are for non-commercial research",
        published_accuracy=f"MSMT17 72.8 (41.4) same-domain, 63.6 (35.5) MSMT17-all -> Market1501; {TORCHREID_ZOO}",
        speed_tier="fast",
        publisher="torchreid model zoo, mirrored by BoxMOT",
    ),
    ReIDModelCard(
        name="osnet_x1_0_msmt17",
        architecture="osnet_x1_0",
        url=OSNET_HF + "osnet_x1_0" + OSNET_HF_SUFFIX,
        filename="osnet_x1_0_msmt17.pth",
        training_set="MSMT17, all images (combineall)",
        license="MIT (torchreid); MSMT17 images are for non-commercial research",
        published_accuracy=f"MSMT17 -> Market1501 66.6 (37.5), -> DukeMTMC 66.0 (45.3); {TORCHREID_ZOO}",
        speed_tier="medium",
        publisher="Kaiyang Zhou (torchreid), Hugging Face kaiyangzhou/osnet",
    ),
    ReIDModelCard(
        name="osnet_ain_x1_0_msmt17",
        architecture="osnet_ain_x1_0",
        url=DRIVE + "1SigwBE6mPdqiJMqhuIY4aqC7--5CsMal",
        filename="osnet_ain_x1_0_msmt17.pt",
        training_set="MSMT17",
        license="MIT (torchreid); MSMT17 images are for non-commercial research",
        published_accuracy=f"MSMT17-all -> Market1501 70.1 (43.3), -> DukeMTMC 71.1 (52.7); {TORCHREID_ZOO}",
        speed_tier="medium",
        publisher="torchreid model zoo, mirrored by BoxMOT",
    ),
    ReIDModelCard(
        name="mobilenetv2_x1_0_market1501",
        architecture="mobilenetv2_x1_0",
        url=DRIVE + "18DgHC2ZJkjekVoqBWszD8_Xiikz-fewp",
        filename="mobilenetv2_x1_0_market1501.pt",
        training_set="Market-1501",
        license="MIT (torchreid); Market-1501 images are for non-commercial research",
        published_accuracy=f"Market1501 85.6 (67.3); {TORCHREID_ZOO}",
        speed_tier="fast",
        publisher="torchreid model zoo, mirrored by BoxMOT",
    ),
    ReIDModelCard(
        name="mobilenetv2_x1_4_msmt17",
        architecture="mobilenetv2_x1_4",
        url=DRIVE + "1ZY5P2Zgm-3RbDpbXM0kIBMPvspeNIbXz",
        filename="mobilenetv2_x1_4_msmt17.pt",
        training_set="MSMT17",
        license="MIT (torchreid); MSMT17 images are for non-commercial research",
        published_accuracy=f"MSMT17 60.1 (31.5); {TORCHREID_ZOO}",
        speed_tier="fast",
        publisher="torchreid model zoo, mirrored by BoxMOT",
    ),
    ReIDModelCard(
        name="resnet50_msmt17",
        architecture="resnet50",
        url=DRIVE + "1ep7RypVDOthCRIAqDnn4_N-UhkkFHJsj",
        filename="resnet50_msmt17.pt",
        training_set="MSMT17",
        license="MIT (torchreid); MSMT17 images are for non-commercial research",
        published_accuracy=f"MSMT17 63.2 (33.9); {TORCHREID_ZOO}",
        speed_tier="slow",
        publisher="torchreid model zoo, mirrored by BoxMOT",
    ),
    ReIDModelCard(
        name="resnest50_market_bot",
        architecture="resnest50",
        url="https://github.com/JDAI-CV/fast-reid/releases/download/v0.1.1/market_bot_S50.pth",
        filename="resnest50_market_bot.pth",
        training_set="Market-1501",
        license="Apache-2.0 (fast-reid); Market-1501 images are for non-commercial research",
        published_accuracy="Market1501 Rank-1 95.2%, mAP 88.7%, mINP 66.9% (fast-reid MODEL_ZOO, BoT(S50))",
        speed_tier="slow",
        publisher="JD AI Research (fast-reid release v0.1.1)",
    ),
    ReIDModelCard(
        name="clip_market1501",
        architecture="clip_vit_b16",
        url=DRIVE + "1GnyAVeNOg3Yug1KBBWMKKbT2x43O5Ch7",
        filename="clip_market1501.pt",
        training_set="Market-1501 (from OpenAI CLIP ViT-B/16)",
        license="MIT (CLIP-ReID, OpenAI CLIP); Market-1501 images are for non-commercial research",
        published_accuracy="Market1501 mAP 89.8%, Rank-1 95.7% (CLIP-ReID paper, ViT-B/16, no re-ranking)",
        speed_tier="slowest",
        publisher="CLIP-ReID authors (README 'ViT-CLIP-ReID' Market model), mirrored by BoxMOT",
    ),
    ReIDModelCard(
        name="convnext_tiny_imagenet",
        architecture="convnext_tiny",
        url="https://huggingface.co/timm/convnext_tiny.fb_in22k_ft_in1k/resolve/main/model.safetensors",
        filename="convnext_tiny_imagenet.safetensors",
        training_set="ImageNet-22k, fine-tuned on ImageNet-1k (not trained for Re-ID)",
        license="Apache-2.0 (timm model card)",
        published_accuracy="no Re-ID accuracy published: a generic ImageNet appearance baseline",
        speed_tier="slow",
        publisher="timm (Hugging Face timm/convnext_tiny.fb_in22k_ft_in1k)",
    ),
)

# goal -> (model, why)
_RECOMMENDATIONS = {
    "edge": (
        "osnet_x0_25_msmt17",
        "0.2M parameters, a 9 MB file: runs on a CPU or a small board alongside the detector",
    ),
    "speed": (
        "osnet_x0_5_msmt17",
        "a fast-tier OSNet with clearly better accuracy than x0_25 at a fraction of ResNet's cost",
    ),
    "balanced": (
        "osnet_ain_x1_0_msmt17",
        "2.2M parameters and the best cross-domain accuracy of the torchreid zoo: new cameras need it",
    ),
    "accuracy": (
        "clip_market1501",
        "the most accurate published model here (Market1501 mAP 89.8%), at ViT-B/16 cost: use a GPU",
    ),
}


@dataclass(frozen=True)
class Recommendation:
    card: ReIDModelCard
    reason: str


def catalog() -> Dict[str, ReIDModelCard]:
    return {card.name: card for card in _CARDS}


def get_card(name: str) -> ReIDModelCard:
    cards = catalog()
    if name not in cards:
        raise MiVOLOError(f"{name}: not a Re-ID model of the catalog; known: {', '.join(cards)}")
    return cards[name]


def recommend(goal: str) -> Recommendation:
    if goal not in _RECOMMENDATIONS:
        raise MiVOLOError(f"{goal}: unknown goal; choose one of {', '.join(GOALS)}")
    name, reason = _RECOMMENDATIONS[goal]
    return Recommendation(card=get_card(name), reason=reason)
