"""Untrusted weight files: crafted pickles never run, bad meta and bad weights are one-line errors.

Every file here is real: written with torch.save (a raw GLOBAL where pickle itself refuses to
write one), safetensors or JSON, then read through the loaders the command-line tools use.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import types

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mivolo.core.errors import CheckpointError, MiVOLOError, UnsafeCheckpointError
from mivolo.io.safe_output import write_json_atomic
from mivolo.model.checkpoint import (
    CheckpointMeta,
    load_checkpoint,
    safe_torch_load,
    save_hf_checkpoint,
    save_legacy_checkpoint,
)
from mivolo.reid.loading import read_weight_file
from mivolo.devtools.synthetic import random_mivolo

POS_EMBED = torch.zeros(1, 14, 14, 384)  # all the meta checks need from a state_dict: input size 224
GOOD_META = {"min_age": 1, "max_age": 95, "avg_age": 48.0, "no_gender": False}


class _Raw:
    """Pickled as these opcodes, verbatim: what a crafted file can hold and pickle would not write."""

    def __init__(self, opcodes: bytes):
        self.opcodes = opcodes

    @classmethod
    def global_(cls, module: str, name: str) -> "_Raw":
        return cls(pickle.GLOBAL + f"{module}\n{name}\n".encode())

    @classmethod
    def nested_list(cls, depth: int) -> "_Raw":
        return cls(pickle.EMPTY_LIST * depth + pickle.APPEND * (depth - 1))


class _RawPickler(pickle._Pickler):  # the pure-Python pickler: its save() can write any opcode
    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Raw):
            self.write(obj.opcodes)
            return
        super().save(obj, save_persistent_id)


_RAW_PICKLE = types.ModuleType("raw_pickle")
_RAW_PICKLE.Pickler = _RawPickler


class _Call:
    """Unpickling this calls `function(*args)`."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _numpy_dtypes_state():
    return {name: getattr(np.dtypes, name) for name in dir(np.dtypes)}, list(np.dtypes.__all__)


def _error(load, path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    return info.value


# ---- the pickle allow-list: exact names ----


@pytest.mark.parametrize("load", [load_checkpoint, read_weight_file], ids=["mivolo", "reid"])
def test_call_to_a_numpy_dtypes_function_is_refused_and_never_runs(tmp_path, load):
    # _add_dtype_helper(DType, alias) sets numpy.dtypes.<alias>: it ran under the old prefix rule
    before = _numpy_dtypes_state()
    path = tmp_path / "osnet_x0_25_evil.pt"
    payload = _Call(np.dtypes._add_dtype_helper, np.dtypes.Float64DType, "numpy.dtypes.Pwned")
    torch.save({"state_dict": {"pos_embed": POS_EMBED}, **GOOD_META, "x": payload}, path)
    error = _error(load, path)
    assert type(error) is UnsafeCheckpointError
    assert "numpy.dtypes._add_dtype_helper" in str(error)
    assert _numpy_dtypes_state() == before and not hasattr(np.dtypes, "Pwned")


@pytest.mark.parametrize("load", [load_checkpoint, read_weight_file], ids=["mivolo", "reid"])
def test_global_that_is_not_a_class_is_refused_in_one_line(tmp_path, load):
    path = tmp_path / "name.pth.tar"
    torch.save({**GOOD_META, "x": _Raw.global_("numpy.dtypes", "__name__")}, path, pickle_module=_RAW_PICKLE)
    error = _error(load, path)
    assert type(error) is UnsafeCheckpointError and "numpy.dtypes.__name__" in str(error)


def test_unknown_numpy_dtype_class_is_refused(tmp_path):
    path = tmp_path / "object.pth.tar"
    torch.save({**GOOD_META, "x": _Raw.global_("numpy.dtypes", "ObjectDType")}, path, pickle_module=_RAW_PICKLE)
    assert "numpy.dtypes.ObjectDType" in str(_error(load_checkpoint, path))


def test_allowed_global_called_with_crafted_arguments_is_one_line(tmp_path):
    path = tmp_path / "dtype.pth.tar"
    torch.save({**GOOD_META, "x": _Call(np.dtype, "no-such-dtype")}, path)  # np.dtype raises TypeError
    assert "not a loadable checkpoint: TypeError" in str(_error(load_checkpoint, path))


def test_pickle_protocol_that_safe_loading_cannot_read_is_one_line(tmp_path):
    path = tmp_path / "protocol4.pth.tar"
    torch.save({"state_dict": {"pos_embed": POS_EMBED}, **GOOD_META}, path, pickle_protocol=4)
    assert "not a loadable checkpoint" in str(_error(load_checkpoint, path))


def test_numpy_scalars_and_training_args_still_load(tmp_path):
    model, meta = random_mivolo(224, with_persons=True, seed=3)
    metrics = {
        "mae": np.float64(4.25),
        "loss": np.float32(0.5),
        "half": np.float16(1.5),
        "epoch": np.int64(150),
        "step": np.int32(7),
        "small": np.int16(-3),
        "tiny": np.int8(-1),
        "count": np.uint64(2**40),
        "seen": np.uint32(9),
        "short": np.uint16(8),
        "byte": np.uint8(255),
        "best": np.bool_(True),
    }
    args = argparse.Namespace(model="mivolo_d1_224", lr=0.0015)
    path = save_legacy_checkpoint(tmp_path / "timm.pth.tar", model, meta, args=args, metric=metrics)
    payload = safe_torch_load(path)
    assert payload["args"] == args
    for key, value in metrics.items():
        assert type(payload["metric"][key]) is type(value) and payload["metric"][key] == value
    assert load_checkpoint(path).meta == meta


def test_age_scale_stored_as_numpy_scalars_loads(tmp_path):
    ages = {"min_age": np.float64(1.0), "max_age": np.int64(95), "avg_age": np.float32(48.5)}
    torch.save({"state_dict": {"pos_embed": POS_EMBED}, **ages, "no_gender": True}, tmp_path / "np.pth.tar")
    meta = load_checkpoint(tmp_path / "np.pth.tar").meta
    assert (meta.min_age, meta.max_age, meta.avg_age, meta.no_gender) == (1.0, 95.0, 48.5, True)
    assert meta.denormalize_age(0.5) == 0.5 * 94 + 48.5


# ---- the age scale and flags ----


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("avg_age", float("nan"), "avg_age must be a finite number, found nan (float)"),
        ("max_age", float("inf"), "max_age must be a finite number, found inf (float)"),
        ("min_age", "1", "min_age must be a number, found '1' (str)"),
        ("avg_age", None, "avg_age must be a number, found None (NoneType)"),
        ("min_age", True, "min_age must be a number, found True (bool)"),
        ("max_age", 1, "max_age (1) must be greater than min_age (1)"),
        ("no_gender", "false", "no_gender must be true or false, found 'false' (str)"),
        ("no_gender", 0, "no_gender must be true or false, found 0 (int)"),
        ("with_persons_model", "True", "with_persons_model must be true or false, found 'True' (str)"),
    ],
)
def test_legacy_meta_is_checked(tmp_path, field, value, reason):
    path = tmp_path / "bad.pth.tar"
    torch.save({"state_dict": {"pos_embed": POS_EMBED}, **GOOD_META, field: value}, path)
    assert str(_error(load_checkpoint, path)) == f"{path}: {reason}"


@pytest.fixture
def hf_folder(tmp_path, hf_checkpoint_dir):
    """A copy of the synthetic Hugging Face folder whose config.json each test rewrites."""
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(hf_checkpoint_dir / "model.safetensors")
    return folder


def _hf_error(folder, config_text: str) -> str:
    (folder / "config.json").write_text(config_text)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(folder)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{folder / 'config.json'}: ")
    return message[len(f"{folder / 'config.json'}: ") :]


@pytest.mark.parametrize(
    "field, json_value, reason",
    [
        ("avg_age", "NaN", "avg_age must be a finite number, found nan"),  # Python's json reads NaN
        ("avg_age", "Infinity", "avg_age must be a finite number, found inf"),
        ("max_age", "1e999", "max_age must be a finite number, found inf"),
        ("max_age", "1" + "0" * 400, "max_age must be a finite number, found 1000000"),  # too big for a float
        ("min_age", '"1"', "min_age must be a number, found '1' (str)"),
        ("min_age", "null", "min_age must be a number, found None"),
        ("avg_age", "[48]", "avg_age must be a number, found a list"),
        ("avg_age", '{"value": 48}', "avg_age must be a number, found a dict"),
        ("min_age", "false", "min_age must be a number, found False (bool)"),
        ("min_age", "95", "max_age (95) must be greater than min_age (95)"),
        ("no_gender", '"false"', "no_gender must be true or false, found 'false' (str)"),
        ("with_persons_model", "1", "with_persons_model must be true or false, found 1 (int)"),
    ],
)
def test_hf_config_values_are_checked(hf_folder, hf_checkpoint_dir, field, json_value, reason):
    config = (hf_checkpoint_dir / "config.json").read_text()
    assert f'"{field}": ' in config
    bad = json.dumps({**json.loads(config), field: "PLACEHOLDER"}).replace('"PLACEHOLDER"', json_value)
    assert _hf_error(hf_folder, bad).startswith(reason)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("[1, 95, 48]", "not a MiVOLO config: expected a JSON object, found list"),
        ("48", "not a MiVOLO config: expected a JSON object, found int"),
        ('"config"', "not a MiVOLO config: expected a JSON object, found str"),
        ("[" * 100_000 + "]" * 100_000, "not a readable JSON config (nested too deeply)"),
        pytest.param(
            '{"min_age": 1' + "0" * 5000 + "}",
            "not a readable JSON config (Exceeds the limit",
            marks=pytest.mark.skipif(not hasattr(sys, "get_int_max_str_digits"), reason="no digit limit before 3.11"),
        ),
    ],
)
def test_hf_config_that_is_not_an_object_is_one_line(hf_folder, text, reason):
    assert _hf_error(hf_folder, text).startswith(reason)


# ---- weights ----


def test_legacy_weight_with_nan_is_refused_naming_it(tmp_path):
    state = {"pos_embed": POS_EMBED, "head.weight": torch.tensor([[0.5, float("nan")]]), "steps": torch.tensor([3])}
    path = tmp_path / "nan.pth.tar"
    torch.save({"state_dict": state, **GOOD_META}, path)
    expected = f"{path}: weight head.weight holds NaN or infinite values; the file is corrupt"
    assert str(_error(load_checkpoint, path)) == expected


def test_weight_that_is_not_a_tensor_is_one_line(tmp_path):
    path = tmp_path / "list.pth.tar"
    nested = _Raw.nested_list(100_000)  # too deep to print: the message names the type only
    torch.save({"state_dict": {"pos_embed": nested}, **GOOD_META}, path, pickle_module=_RAW_PICKLE)
    expected = f"{path}: weight pos_embed is not a tensor but a list; the file is corrupt"
    assert str(_error(load_checkpoint, path)) == expected


def test_safetensors_weight_with_infinity_is_refused_naming_it(tmp_path, hf_checkpoint_dir):
    folder = tmp_path / "inf"
    folder.mkdir()
    (folder / "config.json").write_text((hf_checkpoint_dir / "config.json").read_text())
    tensors = {
        "mivolo.model.pos_embed": POS_EMBED,
        "mivolo.model.blocks.0.norm1.bias": torch.tensor([0.0, -float("inf")]),
    }
    save_file(tensors, str(folder / "model.safetensors"))
    message = str(_error(load_checkpoint, folder / "model.safetensors"))
    assert message.endswith("weight blocks.0.norm1.bias holds NaN or infinite values; the file is corrupt")


# ---- JSON the project writes ----


def test_json_with_nan_is_refused_and_leaves_no_file(tmp_path):
    target = tmp_path / "out" / "summary.json"
    with pytest.raises(MiVOLOError, match=r"summary\.json: not written: the data is not strict JSON .*nan"):
        write_json_atomic(target, {"ages": [31.5, float("nan")]})
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file, not even the folder
    write_json_atomic(target, {"ages": [31.5]})
    with pytest.raises(MiVOLOError, match="not strict JSON"):
        write_json_atomic(target, {"ages": [float("-inf")]})
    assert json.loads(target.read_text()) == {"ages": [31.5]}  # the earlier file is untouched
    assert list(target.parent.iterdir()) == [target]


def test_nan_meta_is_never_written_to_a_config(tmp_path):
    model, _ = random_mivolo(224, with_persons=False, seed=6)
    bad = CheckpointMeta(
        min_age=1.0, max_age=95.0, avg_age=float("nan"), no_gender=False, with_persons_model=False, input_size=224
    )
    with pytest.raises(MiVOLOError, match=r"config\.json: not written"):
        save_hf_checkpoint(tmp_path / "hf", model, bad)
    assert list((tmp_path / "hf").iterdir()) == []  # the config is written first: no weights without one
