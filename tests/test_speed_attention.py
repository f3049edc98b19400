"""The fusion block's attention: torch's scaled_dot_product_attention (on a GPU and in exports)
and the written-out form (on a CPU) both equal the explicit softmax(q k * scale +
relative-position logits) v of the published network."""

import pytest
import torch

from mivolo.model.mivolo_model import CrossBottleneckAttn, create_mivolo


def explicit_attention(block: CrossBottleneckAttn, q, k, v, height: int, width: int) -> torch.Tensor:
    """The published formulation, written out."""
    logits = (q @ k) * block.scale + block.pos_embed(q)
    out = logits.softmax(dim=-1) @ v
    return out.transpose(-1, -2).reshape(q.shape[0], block.dim, height, width)


def _fused_map(block: CrossBottleneckAttn, q, k, v, feat_size) -> torch.Tensor:
    """The fused attention, shaped as `_attend` returns it."""
    return block._attend_fused(q, k, v).transpose(-1, -2).reshape(q.shape[0], block.dim, *feat_size)


def _block_and_inputs(dim, feat_size, dtype):
    torch.manual_seed(0)
    block = CrossBottleneckAttn(dim, feat_size).to(dtype).eval()
    x = torch.randn(3, dim * 2, *feat_size, dtype=dtype)
    return block, (block._split_qkv(x[:, :dim], block.qkv_f), block._split_qkv(x[:, dim:], block.qkv_p))


@pytest.mark.parametrize("feat_size, dtype, tolerance", [((6, 5), torch.float64, 1e-12), ((8, 8), torch.float32, 1e-5)])
def test_sdpa_attention_equals_the_explicit_softmax(feat_size, dtype, tolerance):
    dim = 24
    block, ((q, k, v), (q2, k2, v2)) = _block_and_inputs(dim, feat_size, dtype)
    with torch.no_grad():
        for qa, ka, va in ((q, k2, v2), (q2, k, v)):
            fused = _fused_map(block, qa, ka, va, feat_size)
            reference = explicit_attention(block, qa, ka, va, *feat_size)
            assert fused.shape == reference.shape == (3, dim, *feat_size)
            assert torch.allclose(fused, reference, atol=tolerance, rtol=0)
            # the relative-position term matters: without it the answer is different
            plain = ((qa @ ka) * block.scale).softmax(-1) @ va
            assert not torch.allclose(plain.transpose(-1, -2).reshape_as(reference), reference, atol=1e-3)


@pytest.mark.parametrize("exporting", [False, True])
def test_a_cpu_runs_the_published_arithmetic_and_an_export_the_fused_one(monkeypatch, exporting):
    dim, feat_size = 24, (8, 8)
    block, ((q, k, v), (q2, k2, v2)) = _block_and_inputs(dim, feat_size, torch.float32)
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: exporting)
    with torch.no_grad():
        chosen = block._attend(q, k2, v2, *feat_size)
        fused = _fused_map(block, q, k2, v2, feat_size)
        reference = explicit_attention(block, q, k2, v2, *feat_size)
    assert torch.equal(chosen, fused if exporting else reference)


def test_whole_network_output_unchanged_by_the_fused_attention():
    torch.manual_seed(1)
    model = create_mivolo(224, 6, 3).eval()
    block = model.patch_embed.map if hasattr(model.patch_embed, "map") else None
    assert isinstance(block, CrossBottleneckAttn)
    x = torch.randn(2, 6, 224, 224)
    with torch.no_grad():
        reference = model(x)
        block._attend_explicit = block._attend_fused  # the GPU's path, here on the CPU
        fused = model(x)
    assert not torch.equal(fused, reference)  # the patched path really ran
    assert torch.allclose(fused, reference, atol=1e-4, rtol=1e-4)
