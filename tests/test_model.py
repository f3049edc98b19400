"""The network matches the published architecture: names, shapes and parameter counts."""

from pathlib import Path

import pytest
import torch

from mivolo.model.mivolo_model import create_mivolo, variant_name

# the published mivolo_d1_224 face+body checkpoint: its 290 tensor names and shapes
SPEC = Path(__file__).resolve().parent / "data" / "mivolo_d1_224_6ch_state_dict.txt"


def _spec_shapes():
    shapes = {}
    for line in SPEC.read_text().splitlines()[1:]:
        name, shape = line.split(" ", 1)
        shapes[name] = tuple(int(v) for v in shape.strip("()").split(",") if v.strip())
    return shapes


def test_state_dict_names_and_shapes_match_published_224_face_body():
    expected = _spec_shapes()
    model = create_mivolo(224, 6, 3)
    actual = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert len(expected) == 290
    assert set(actual) == set(expected)
    assert {n: s for n, s in actual.items() if expected[n] != s} == {}


def test_384_differs_only_where_published():
    small = {n: tuple(t.shape) for n, t in create_mivolo(224, 6, 3).state_dict().items()}
    large = {n: tuple(t.shape) for n, t in create_mivolo(384, 6, 3).state_dict().items()}
    differing = {n: large[n] for n in small if small[n] != large[n]}
    assert differing == {
        "pos_embed": (1, 24, 24, 384),
        "patch_embed.map.pos_embed.height_rel": (95, 192),
        "patch_embed.map.pos_embed.width_rel": (95, 192),
        "patch_embed.map.norm.weight": (384, 48, 48),
        "patch_embed.map.norm.bias": (384, 48, 48),
    }


@pytest.mark.parametrize(
    "size,chans,classes,count",
    [(224, 6, 3, 27_432_414), (384, 6, 3, 28_761_054), (224, 3, 1, 25_862_810), (224, 3, 3, 25_864_350)],
)
def test_parameter_counts(size, chans, classes, count):
    model = create_mivolo(size, chans, classes)
    assert sum(p.numel() for p in model.parameters()) == count


def test_face_only_model_is_plain_timm_volo_d1():
    import timm

    ours = create_mivolo(224, 3, 1).state_dict()
    timm_volo = timm.create_model("volo_d1_224", pretrained=False, num_classes=1).state_dict()
    assert {n: tuple(t.shape) for n, t in ours.items()} == {n: tuple(t.shape) for n, t in timm_volo.items()}


def test_forward_shapes_and_fusion_uses_both_halves():
    torch.manual_seed(0)
    model = create_mivolo(224, 6, 3).eval()
    x = torch.randn(2, 6, 224, 224)
    with torch.no_grad():
        out = model(x)
        body_changed = x.clone()
        body_changed[:, 3:] = torch.randn(2, 3, 224, 224)
        out_body_changed = model(body_changed)
    assert out.shape == (2, 3)
    # the cross-attention block mixes face and body: changing only the body changes the output
    assert not torch.allclose(out, out_body_changed)


def test_variant_names():
    assert variant_name(224, 6) == "mivolo_d1_224"
    assert variant_name(384, 3) == "volo_d1_384"


def test_unsupported_sizes_are_refused():
    with pytest.raises(ValueError, match="input size"):
        create_mivolo(256, 6, 3)
    with pytest.raises(ValueError, match="channels"):
        create_mivolo(224, 4, 3)
