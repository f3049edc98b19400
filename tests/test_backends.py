"""Backend choice, the exported-file checks and their one-line errors.

Uses a tiny hand-built ONNX graph (spatial mean of each channel, times a 6x3 matrix) carrying
MiVOLO metadata: its outputs are computed by hand, and it is cheap to bend into every bad case.
The real MiVOLO exports are compared with PyTorch in test_export.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from mivolo.core.record import gender_name
from mivolo.model.backends import detector_backend_for, mivolo_backend_for
from mivolo.core.errors import CheckpointError, MiVOLOError
from mivolo.model.mi_volo import MiVOLO
from mivolo.model.yolo_detector import Detector

GOOD_META = {
    "architecture": "mivolo_d1_224",
    "input_size": "224",
    "min_age": "1.0",
    "max_age": "95.0",
    "avg_age": "48.0",
    "no_gender": "False",
    "with_persons_model": "True",
    "param_count": "18",
}
WEIGHT = np.arange(18, dtype=np.float32).reshape(6, 3) / 100.0


def write_tiny_onnx(path: Path, metadata: dict, input_dims=("batch", 6, 224, 224), outputs: int = 3, opset: int = 17):
    """input -> GlobalAveragePool -> Flatten -> MatMul(WEIGHT[:, :outputs]) -> output."""
    weight = numpy_helper.from_array(WEIGHT[:, :outputs], name="weight")
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "weight"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(input_dims))],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [input_dims[0], outputs])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def tiny_onnx(tmp_path):
    return write_tiny_onnx(tmp_path / "tiny.onnx", GOOD_META)


# ---- choosing the backend ----


@pytest.mark.parametrize(
    "name, backend, expected",
    [
        ("m.pth.tar", None, "torch"),
        ("model.safetensors", None, "torch"),
        ("m.onnx", None, "onnx"),
        ("m.xml", None, "openvino"),
        ("m.onnx", "openvino", "openvino"),  # OpenVINO reads ONNX directly
        ("m.onnx", "onnx", "onnx"),
    ],
)
def test_mivolo_backend_follows_the_file(name, backend, expected):
    assert mivolo_backend_for(Path(name), backend) == expected


def test_mivolo_backend_mismatch_says_how_to_export():
    with pytest.raises(CheckpointError, match=r"needs an exported MiVOLO.*tools/export\.py --checkpoint m\.pth\.tar"):
        mivolo_backend_for(Path("m.pth.tar"), "onnx")
    with pytest.raises(CheckpointError, match=r"runs with --backend openvino, not onnx"):
        mivolo_backend_for(Path("m.xml"), "onnx")
    with pytest.raises(MiVOLOError, match=r"unknown backend 'tensorrt'"):
        mivolo_backend_for(Path("m.onnx"), "tensorrt")


def test_detector_backend_follows_the_file(tmp_path):
    folder = tmp_path / "det_openvino_model"
    folder.mkdir()
    assert detector_backend_for(tmp_path / "det.pt") == "torch"
    assert detector_backend_for(tmp_path / "det.onnx") == "onnx"
    assert detector_backend_for(folder) == "openvino"
    assert detector_backend_for(folder / "det.xml") == "openvino"
    with pytest.raises(CheckpointError, match=r"needs an exported detector.*--detector-weights"):
        detector_backend_for(tmp_path / "det.pt", "openvino")


# ---- exported MiVOLO through the MiVOLO API ----


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_model_runs_behind_mivolo_api(tiny_onnx, backend):
    model = MiVOLO(str(tiny_onnx), device="cpu", backend=backend)
    assert model.backend == backend and model.model is None
    assert model.model_name == "mivolo_d1_224" and model.param_count == 18
    assert (model.meta.min_age, model.meta.max_age, model.meta.avg_age) == (1.0, 95.0, 48.0)
    batch = torch.zeros(2, 6, 224, 224)
    batch[0, 0] = 1.0  # channel means: row 0 is (1, 0, 0, 0, 0, 0), row 1 is all 2
    batch[1] = 2.0
    output = model.inference(batch)
    expected = np.stack([WEIGHT[0], 2.0 * WEIGHT.sum(axis=0)])
    np.testing.assert_allclose(output.numpy(), expected, rtol=1e-6, atol=1e-6)
    # decode is shared: age = output[2] * (95 - 1) + 48
    ages, genders, _ = model.decode(output)
    assert ages[0] == round(0.02 * 94 + 48, 2) and gender_name(genders[0]) == "female"


# ---- bad exported files: one clear line ----


def _load_error(path, backend="onnx") -> str:
    with pytest.raises(CheckpointError) as info:
        MiVOLO(str(path), device="cpu", backend=backend)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_file_without_mivolo_metadata_is_refused(tmp_path, backend):
    message = _load_error(write_tiny_onnx(tmp_path / "plain.onnx", {}), backend)
    assert "not a MiVOLO export" in message and "tools/export.py" in message


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_detector_passed_as_checkpoint_is_named(tmp_path, backend):
    detector_meta = {"names": "{0: 'person', 1: 'face'}", "stride": "32", "task": "detect"}
    message = _load_error(write_tiny_onnx(tmp_path / "yolo.onnx", detector_meta), backend)
    assert "ultralytics detector" in message and "--detector-weights" in message


def test_other_architecture_is_refused(tmp_path):
    path = write_tiny_onnx(tmp_path / "d2.onnx", {**GOOD_META, "architecture": "volo_d2_224"})
    assert "'volo_d2_224' is not supported" in _load_error(path)


def test_graph_that_disagrees_with_its_metadata_is_refused(tmp_path):
    as_384 = {**GOOD_META, "architecture": "mivolo_d1_384", "input_size": "384"}
    assert "does not match mivolo_d1_384" in _load_error(write_tiny_onnx(tmp_path / "a.onnx", as_384))
    age_only = {**GOOD_META, "no_gender": "True"}
    assert "1-output head" in _load_error(write_tiny_onnx(tmp_path / "b.onnx", age_only))
    fixed_batch = write_tiny_onnx(tmp_path / "c.onnx", GOOD_META, input_dims=(1, 6, 224, 224))
    assert "batch axis is fixed" in _load_error(fixed_batch)


@pytest.mark.parametrize(
    "key, value, reason",
    [
        ("avg_age", "nan", "avg_age must be a finite number, found nan"),
        ("min_age", "-inf", "min_age must be a finite number, found -inf"),
        ("max_age", "1e999", "max_age must be a finite number, found inf"),  # float() overflows to inf
        ("max_age", "1.0", "max_age (1) must be greater than min_age (1)"),
        ("avg_age", "forty-eight", "MiVOLO metadata avg_age='forty-eight' is not a number"),
        ("input_size", "224.0", "MiVOLO metadata input_size='224.0' is not a whole number"),
    ],
)
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_bad_age_scale_or_number_in_metadata_is_one_line(tmp_path, backend, key, value, reason):
    path = write_tiny_onnx(tmp_path / "bad.onnx", {**GOOD_META, key: value})
    assert _load_error(path, backend).startswith(f"{path}: {reason}")


def test_unsupported_opset_says_what_to_upgrade(tmp_path):
    message = _load_error(write_tiny_onnx(tmp_path / "future.onnx", GOOD_META, opset=99))
    assert "opset 99" in message and "pip install -U onnxruntime" in message


# ---- missing runtime packages ----


@pytest.mark.parametrize("backend, package", [("onnx", "onnxruntime"), ("openvino", "openvino")])
def test_missing_runtime_says_what_to_install(tiny_onnx, monkeypatch, backend, package):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail as if not installed
    with pytest.raises(MiVOLOError, match=rf"needs the '{package}' package.*pip install '{package}>="):
        MiVOLO(str(tiny_onnx), device="cpu", backend=backend)


def test_detector_with_missing_runtime_says_what_to_install(tmp_path, monkeypatch):
    onnx_detector = write_tiny_onnx(tmp_path / "det.onnx", {})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MiVOLOError, match=r"onnx detector backend needs the 'onnxruntime' package"):
        Detector(onnx_detector, device="cpu")
    folder = tmp_path / "det_openvino_model"
    folder.mkdir()
    (folder / "det.xml").write_text("<net/>")
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MiVOLOError, match=r"openvino detector backend needs the 'openvino' package"):
        Detector(folder, device="cpu")


def test_openvino_detector_must_be_the_exported_folder(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    with pytest.raises(CheckpointError, match=r"'<name>_openvino_model' folder"):
        Detector(folder, device="cpu")
