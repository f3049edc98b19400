"""Checkpoint formats: round trips, EMA preference, prefixes, strictness and safe unpickling."""

import argparse
import os

import pytest
import torch

from mivolo.core.errors import CheckpointError, UnsafeCheckpointError
from mivolo.model.checkpoint import (
    HF_KEY_PREFIX,
    load_checkpoint,
    save_hf_checkpoint,
    save_legacy_checkpoint,
)
from mivolo.devtools.synthetic import random_mivolo

INPUT = torch.randn(2, 6, 224, 224, generator=torch.Generator().manual_seed(0))


def _outputs(model):
    with torch.no_grad():
        return model.eval()(INPUT)


@pytest.fixture(scope="module")
def model_and_meta():
    return random_mivolo(224, with_persons=True, seed=3)


def test_legacy_round_trip_gives_identical_outputs(tmp_path, model_and_meta):
    model, meta = model_and_meta
    path = save_legacy_checkpoint(tmp_path / "m.pth.tar", model, meta, args=argparse.Namespace(lr=0.1), epoch=3)
    loaded = load_checkpoint(path)
    assert loaded.meta == meta
    assert loaded.file_format == "legacy"
    assert torch.equal(_outputs(loaded.build_model()), _outputs(model))


def test_safetensors_round_trip_gives_identical_outputs(tmp_path, model_and_meta):
    model, meta = model_and_meta
    folder = save_hf_checkpoint(tmp_path / "hf", model, meta)
    from safetensors.torch import load_file

    assert all(key.startswith(HF_KEY_PREFIX) for key in load_file(str(folder / "model.safetensors")))
    for path in (folder, folder / "model.safetensors"):
        loaded = load_checkpoint(path)
        assert loaded.meta == meta and loaded.file_format == "safetensors"
        assert torch.equal(_outputs(loaded.build_model()), _outputs(model))


def test_legacy_prefers_ema_strips_module_prefix_and_drops_fds_keys(tmp_path, model_and_meta):
    model, meta = model_and_meta
    ema_model, _ = random_mivolo(224, with_persons=True, seed=4)
    ema = {f"module.{k}": v for k, v in ema_model.state_dict().items()}
    ema["module.fds.running_mean"] = torch.zeros(3)  # training-only buffer
    payload = {
        "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
        "state_dict_ema": ema,
        "min_age": meta.min_age,
        "max_age": meta.max_age,
        "avg_age": meta.avg_age,
        "no_gender": False,
        "optimizer": {"state": {}},
        "args": argparse.Namespace(model="mivolo_d1_224"),
        "version": 2,
    }
    torch.save(payload, tmp_path / "ema.pth.tar")
    loaded = load_checkpoint(tmp_path / "ema.pth.tar")
    assert loaded.meta.with_persons_model  # recognised by the conv1 key, no explicit flag
    assert torch.equal(_outputs(loaded.build_model()), _outputs(ema_model))
    assert not torch.equal(_outputs(ema_model), _outputs(model))


def test_meta_is_read_from_file_not_hard_coded(tmp_path):
    model, meta = random_mivolo(224, with_persons=False, no_gender=True, seed=5, min_age=0.0, max_age=122.0, avg_age=61.0)
    loaded = load_checkpoint(save_legacy_checkpoint(tmp_path / "face.pth.tar", model, meta))
    assert (loaded.meta.min_age, loaded.meta.max_age, loaded.meta.avg_age) == (0.0, 122.0, 61.0)
    assert loaded.meta.in_chans == 3 and loaded.meta.num_classes == 1
    assert loaded.build_model().patch_embed.proj.weight.shape == (192, 64, 4, 4)


def test_missing_and_unexpected_keys_are_named(tmp_path, model_and_meta):
    model, meta = model_and_meta
    state = dict(model.state_dict())
    del state["head.bias"]
    state["extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": state, "min_age": 1, "max_age": 95, "avg_age": 48, "no_gender": False}, tmp_path / "x.pth.tar")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "x.pth.tar").build_model()
    assert "missing (1): head.bias" in str(err.value)
    assert "unexpected (1): extra.weight" in str(err.value)


def test_another_architecture_is_refused_with_key_names(tmp_path):
    import timm

    other = timm.create_model("volo_d2_224", pretrained=False, num_classes=3).state_dict()
    torch.save({"state_dict": other, "min_age": 1, "max_age": 95, "avg_age": 48, "no_gender": False}, tmp_path / "d2.pth.tar")
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_checkpoint(tmp_path / "d2.pth.tar").build_model()


def test_truncated_files_are_reported(tmp_path, legacy_checkpoint_path, hf_checkpoint_dir):
    data = legacy_checkpoint_path.read_bytes()
    (tmp_path / "cut.pth.tar").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pth.tar")
    cut = tmp_path / "hf"
    cut.mkdir()
    (cut / "config.json").write_bytes((hf_checkpoint_dir / "config.json").read_bytes())
    (cut / "model.safetensors").write_bytes((hf_checkpoint_dir / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(cut)


def test_safetensors_without_config_is_refused(tmp_path, hf_checkpoint_dir):
    lone = tmp_path / "model.safetensors"
    lone.write_bytes((hf_checkpoint_dir / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="config.json"):
        load_checkpoint(lone)


class _Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = str(tmp_path / "pwned")
    torch.save({"state_dict": {}, "min_age": 1, "max_age": 2, "avg_age": 1.5, "no_gender": False, "x": _Payload(marker)}, tmp_path / "evil.pth.tar")
    with pytest.raises(UnsafeCheckpointError, match="posix.mkdir"):
        load_checkpoint(tmp_path / "evil.pth.tar")
    assert not os.path.exists(marker)


def test_detector_file_given_as_checkpoint_is_named(detector_path):
    with pytest.raises(CheckpointError, match="--detector-weights"):
        load_checkpoint(detector_path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pth.tar")
