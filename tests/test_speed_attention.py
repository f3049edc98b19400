"""The fusion block's attention through torch's scaled_dot_product_attention equals the explicit
softmax(q k * scale + relative-position logits) v of the published network."""

import pytest
import torch

from mivolo.model.mivolo_model import CrossBottleneckAttn, create_mivolo


def explicit_attention(block: CrossBottleneckAttn, q, k, v, height: int, width: int) -> torch.Tensor:
    """The published formulation, written out."""
    logits = (q @ k) * block.scale + block.pos_embed(q)
    out = logits.softmax(dim=-1) @ v
    return out.transpose(-1, -2).reshape(q.shape[0], block.dim, height, width)


@pytest.mark.parametrize("feat_size, dtype, tolerance", [((6, 5), torch.float64, 1e-12), ((8, 8), torch.float32, 1e-5)])
def test_sdpa_attention_equals_the_explicit_softmax(feat_size, dtype, tolerance):
    torch.manual_seed(0)
    dim = 24
    block = CrossBottleneckAttn(dim, feat_size).to(dtype).eval()
    x = torch.randn(3, dim * 2, *feat_size, dtype=dtype)
    q, k, v = block._split_qkv(x[:, :dim], block.qkv_f)
    q2, k2, v2 = block._split_qkv(x[:, dim:], block.qkv_p)
    with torch.no_grad():
        for (qa, ka, va) in ((q, k2, v2), (q2, k, v)):
            fused = block._attend(qa, ka, va, *feat_size)
            reference = explicit_attention(block, qa, ka, va, *feat_size)
            assert fused.shape == reference.shape == (3, dim, *feat_size)
            assert torch.allclose(fused, reference, atol=tolerance, rtol=0)
            # the relative-position term matters: without it the answer is different
            plain = ((qa @ ka) * block.scale).softmax(-1) @ va
            assert not torch.allclose(plain.transpose(-1, -2).reshape_as(reference), reference, atol=1e-3)


def test_whole_network_output_unchanged_by_the_fused_attention():
    torch.manual_seed(1)
    model = create_mivolo(224, 6, 3).eval()
    block = model.patch_embed.map if hasattr(model.patch_embed, "map") else None
    assert isinstance(block, CrossBottleneckAttn)
    x = torch.randn(2, 6, 224, 224)
    with torch.no_grad():
        fused = model(x)
        block._attend = lambda q, k, v, h, w: explicit_attention(block, q, k, v, h, w)
        reference = model(x)
    assert torch.allclose(fused, reference, atol=1e-4, rtol=1e-4)
