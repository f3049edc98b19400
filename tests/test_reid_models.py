"""Every Re-ID backbone, saved with random weights in its publisher's file layout, loads back strictly."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from mivolo.core.errors import CheckpointError, UnsafeCheckpointError
from mivolo.reid import load_reid_encoder
from mivolo.reid.architecture import architectures, get_architecture
from mivolo.reid.loading import load_network
from mivolo.reid.resnest import FASTREID_FORMAT
from mivolo.devtools.reid_synthetic import random_network, write_public_weights

# (architecture, embedding dim, parameters of the inference network, top-level keys of the saved file)
EXPECTED = {
    "osnet_x1_0": (512, 2169508, {"state_dict"}),
    "osnet_x0_75": (512, 1285754, {"state_dict"}),
    "osnet_x0_5": (512, 630034, {"state_dict"}),
    "osnet_x0_25": (512, 201864, {"state_dict"}),
    "osnet_ain_x1_0": (512, 2169508, {"state_dict"}),
    "mobilenetv2_x1_0": (1280, 2224960, {"state_dict"}),
    "mobilenetv2_x1_4": (1792, 4291604, {"state_dict"}),
    "resnet50": (2048, 23508032, {"state_dict"}),
    "resnest50": (2048, 25438336, {"model"}),
    "clip_vit_b16": (1280, 86140416, None),  # CLIP-ReID saves the raw state_dict
    "convnext_tiny": (768, 27820128, None),  # timm safetensors: raw tensors
}
# parameter names that only the real publisher's layout has: proves the names are the public ones
PUBLIC_KEYS = {
    "osnet_x0_25": ["conv2.0.conv2d.3.conv2.weight", "conv2.2.0.conv.weight", "fc.1.running_var", "classifier.weight"],
    "osnet_ain_x1_0": [
        "conv1.bn.weight",
        "conv2.0.conv2.3.layers.3.conv1.weight",
        "conv2.0.IN.weight",
        "pool3.0.bn.bias",
    ],
    "mobilenetv2_x1_4": ["conv8.0.dwconv2.conv.weight", "conv9.bn.running_mean", "classifier.weight"],
    "resnet50": ["layer4.2.conv3.weight", "layer1.0.downsample.1.running_var", "classifier.bias"],
    "resnest50": ["backbone.conv1.6.weight", "backbone.layer4.0.conv2.fc1.bias", "heads.bottleneck.0.running_mean"],
    "clip_vit_b16": [
        "image_encoder.transformer.resblocks.11.attn.in_proj_weight",
        "image_encoder.proj",
        "text_encoder.positional_embedding",
    ],
    "convnext_tiny": ["stages.3.blocks.2.gamma", "head.norm.weight", "head.fc.weight"],
}
BOXES = np.array([[10, 8, 50, 90], [70, 20, 118, 96]], dtype=np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The CI machine's few cores are shared: one intra-op thread is faster than contended two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_every_architecture_is_registered():
    assert set(architectures()) == set(EXPECTED)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (100, 128, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_backbone_round_trip_through_public_layout(name, image, tmp_path):
    dim, parameters, containers = EXPECTED[name]
    spec = get_architecture(name)
    network = random_network(name, seed=3)
    path = write_public_weights(name, tmp_path / f"{name}_synthetic{spec.file_suffix}", network=network)

    if path.suffix == ".pt" or path.suffix == ".pth":
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        state = saved if containers is None else saved[next(iter(containers))]
        if containers is not None:
            assert set(saved) == containers
    else:
        from safetensors.torch import load_file

        state = load_file(str(path))
    for key in PUBLIC_KEYS.get(name, []):
        assert key in state, key

    encoder = load_reid_encoder(path, "cpu")  # architecture recognised from the file name
    assert (encoder.architecture.name, encoder.dim, encoder.num_parameters) == (name, dim, parameters)
    embeddings = encoder.embed(image, BOXES)
    assert embeddings.shape == (2, dim) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    # every tensor of the loaded network is the saved one (the training-only parts were dropped)
    loaded = encoder.network.state_dict()
    assert loaded.keys() == network.state_dict().keys()
    assert all(torch.equal(loaded[key], value) for key, value in network.state_dict().items())
    del network, encoder


def test_raw_state_dict_and_unknown_file_name_are_recognised(tmp_path, image):
    network = random_network("osnet_x0_25", seed=1)
    path = tmp_path / "downloaded_model.pth"  # no architecture in the name: recognised by its keys
    torch.save(dict(network.state_dict()), path)  # BoxMOT-style raw state_dict, no classifier
    loaded = load_network(path)
    assert loaded.architecture.name == "osnet_x0_25"
    assert load_reid_encoder(path, "cpu").embed(image, BOXES).shape == (2, 512)


def test_wrong_width_names_the_mismatched_shapes(tmp_path):
    path = write_public_weights("osnet_x0_25", tmp_path / "osnet_x0_5_mislabelled.pt", seed=0)
    with pytest.raises(CheckpointError) as error:
        load_reid_encoder(path, "cpu")
    message = str(error.value)
    assert "read as osnet_x0_5" in message and "torchreid format" in message
    assert "conv1.conv.weight (16, 3, 7, 7) != (32, 3, 7, 7)" in message


def test_other_architecture_names_missing_and_unexpected_keys(tmp_path):
    path = write_public_weights("osnet_x0_25", tmp_path / "weights.pt", seed=0)
    with pytest.raises(CheckpointError) as error:
        load_network(path, "osnet_ain_x1_0")
    message = str(error.value)
    assert "missing" in message and "conv2.0.conv2.0.layers.0.conv1.weight" in message
    assert "unexpected" in message and "conv2.0.conv2a.conv1.weight" in message


def test_file_of_no_known_architecture_is_refused(tmp_path):
    path = tmp_path / "mystery.pt"
    torch.save({"state_dict": {"encoder.layer.weight": torch.zeros(3, 3)}}, path)
    with pytest.raises(CheckpointError, match="not a Re-ID weight file of any known architecture"):
        load_reid_encoder(path, "cpu")


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "osnet_x0_25_evil.pt"
    torch.save({"state_dict": {}, "hook": Payload()}, path, pickle_module=pickle)
    with pytest.raises(UnsafeCheckpointError, match="refused to load"):
        load_reid_encoder(path, "cpu")


def test_fastreid_legacy_bnneck_names_and_training_parts():
    checkpoint = {
        "model": {
            "module.backbone.conv1.0.weight": torch.ones(1),
            "heads.bnneck.weight": torch.ones(1),
            "heads.classifier.weight": torch.ones(1),
            "pixel_mean": torch.ones(1),
        },
        "iteration": 1,
    }
    state = FASTREID_FORMAT.network_state_dict(checkpoint, "market_bot_S50.pth")
    assert set(state) == {"backbone.conv1.0.weight", "heads.bottleneck.0.weight"}


def test_boxes_outside_the_image_and_no_boxes(tmp_path, image):
    path = write_public_weights("osnet_x0_25", tmp_path / "osnet_x0_25_edges.pt", seed=2)
    encoder = load_reid_encoder(path, "cpu")
    outside = np.array([[-30, -30, 5, 5], [120, 90, 400, 300], [50, 50, 50, 50]], dtype=np.float32)
    embeddings = encoder.embed(image, outside)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    assert encoder.embed(image, np.zeros((0, 4))).shape == (0, 512)
