"""The exportable Outlooker: fold_patches equal to F.fold, the attention equal to timm's either way,
the checkpoint's names."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from timm.models.volo import OutlookAttention, Outlooker

from mivolo.model.mivolo_model import ExportableOutlookAttention, fold_patches
from mivolo.devtools.synthetic import random_mivolo

# the published mivolo_d1_224 face+body checkpoint: its 290 tensor names and shapes
SPEC_STATE_DICT = Path(__file__).resolve().parent / "data" / "mivolo_d1_224_6ch_state_dict.txt"


@pytest.mark.parametrize(
    "height, width, kernel, padding, stride",
    [
        (28, 28, 3, 1, 2),  # VOLO-D1 stage 0 at 224
        (48, 48, 3, 1, 2),  # and at 384
        (27, 29, 3, 1, 2),  # odd sizes: the last window hangs over the border
        (10, 12, 3, 1, 1),  # overlapping windows at stride 1
        (14, 14, 5, 2, 3),
    ],
)
def test_fold_patches_equals_torch_fold_bit_for_bit(height, width, kernel, padding, stride):
    rows = (height + 2 * padding - kernel) // stride + 1
    cols = (width + 2 * padding - kernel) // stride + 1
    columns = torch.randn(2, 4 * kernel * kernel, rows * cols, generator=torch.Generator().manual_seed(height))
    expected = F.fold(columns, (height, width), kernel_size=kernel, padding=padding, stride=stride)
    actual = fold_patches(columns, (height, width), kernel, padding, stride)
    assert actual.shape == expected.shape
    assert torch.equal(actual, expected)


def test_fold_patches_sums_overlapping_windows():
    # 1 channel, 2x2 kernel, stride 1, no padding, 3x3 output: 4 windows of ones overlap in the centre
    columns = torch.ones(1, 4, 4)
    out = fold_patches(columns, (3, 3), kernel_size=2, padding=0, stride=1)
    assert out[0, 0].tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]


def test_exportable_attention_equals_timm_attention_both_ways():
    torch.manual_seed(0)
    timm_attention = OutlookAttention(dim=192, num_heads=6, kernel_size=3, padding=1, stride=2).eval()
    exportable = ExportableOutlookAttention.from_timm(timm_attention).eval()
    assert exportable.state_dict().keys() == timm_attention.state_dict().keys()
    x = torch.randn(2, 28, 28, 192)
    with torch.no_grad():
        assert torch.equal(exportable(x), timm_attention(x))
        exportable.fold_with_patches = True
        assert torch.equal(exportable(x), timm_attention(x))


def _with_timm_outlookers(model):
    """A copy of the network whose Outlookers use timm's own (F.fold) attention."""
    reference = copy.deepcopy(model)
    for block in reference.modules():
        if isinstance(block, Outlooker):
            original = OutlookAttention(
                dim=192, num_heads=block.attn.num_heads, kernel_size=3, padding=1, stride=2
            )
            original.load_state_dict(block.attn.state_dict(), strict=True)
            block.attn = original
    return reference.eval()


@pytest.mark.parametrize("exporting", [False, True])
def test_network_equals_timm_outlooker_path_and_folds_without_fold_while_exporting(monkeypatch, exporting):
    model, _ = random_mivolo(224, with_persons=True, seed=3)
    reference = _with_timm_outlookers(model)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    x = torch.randn(2, 6, 224, 224, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: exporting)
    with torch.no_grad():
        expected = reference(x)
        calls = []
        fold = F.fold
        monkeypatch.setattr(F, "fold", lambda *args, **kwargs: calls.append(1) or fold(*args, **kwargs))
        actual = model(x)
    assert torch.equal(actual, expected)
    # eager PyTorch keeps F.fold (faster on a CPU); ONNX, which has no col2im here, gets fold_patches
    assert len(calls) == (0 if exporting else 4)


def test_face_only_variant_uses_the_exportable_outlookers_too():
    model, _ = random_mivolo(224, with_persons=False)
    outlookers = [block for block in model.modules() if isinstance(block, Outlooker)]
    assert len(outlookers) == 4 and all(type(block.attn) is ExportableOutlookAttention for block in outlookers)


def test_state_dict_and_parameter_count_unchanged():
    model, _ = random_mivolo(224, with_persons=True)
    outlookers = [block for block in model.modules() if isinstance(block, Outlooker)]
    assert len(outlookers) == 4 and all(isinstance(block.attn, ExportableOutlookAttention) for block in outlookers)
    expected = {}
    for line in SPEC_STATE_DICT.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = re.match(r"(\S+) \((.*)\)", line).groups()
            expected[name] = tuple(int(dim) for dim in shape.split(",") if dim.strip())
    actual = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    assert actual == expected
    assert sum(p.numel() for p in model.parameters()) == 27_432_414
