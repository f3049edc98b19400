"""Export: MiVOLO to ONNX / OpenVINO IR and the detector through ultralytics, checked for parity.

Tolerance: exported MiVOLO outputs (gender logits, normalised age) are within 1e-4 of PyTorch
(fp32 reorderings give ~1e-6); detector boxes within 0.05 px, same classes and count.
"""

from __future__ import annotations


import numpy as np
import onnx
import pytest
import torch

from mivolo.model.backends import load_exported_mivolo
from mivolo.model.export import export_detector, export_mivolo
from mivolo.model.checkpoint import load_checkpoint
from mivolo.model.mi_volo import MiVOLO
from mivolo.model.yolo_detector import Detector
from mivolo.model.structures import PersonAndFaceResult
from mivolo.devtools.synthetic import write_mivolo_checkpoint

from mivolo.cli.export import main as export_main  # tools/export.py's command line

OUTPUT_TOLERANCE = 1e-4
BOX_TOLERANCE_PX = 0.05
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def mivolo_224_exports(exported_models):
    """The session's face+body mivolo_d1_224 as ONNX and OpenVINO IR (exported once per session in conftest)."""
    return {backend: exported_models[backend]["mivolo"] for backend in ("onnx", "openvino")}


@pytest.fixture(scope="module")
def torch_224(legacy_checkpoint_path):
    return load_checkpoint(legacy_checkpoint_path).build_model()


def _batch(size: int, channels: int, input_size: int, seed: int) -> torch.Tensor:
    return torch.randn(size, channels, input_size, input_size, generator=torch.Generator().manual_seed(seed))


def test_onnx_file_passes_checker_and_carries_checkpoint_meta(mivolo_224_exports, legacy_checkpoint_path):
    path = mivolo_224_exports["onnx"]
    assert path.name == "mivolo_d1_224.onnx"
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    props = {entry.key: entry.value for entry in proto.metadata_props}
    assert props == {
        "architecture": "mivolo_d1_224",
        "input_size": "224",
        "min_age": "1.0",
        "max_age": "95.0",
        "avg_age": "48.0",
        "no_gender": "False",
        "with_persons_model": "True",
        "param_count": "27432414",
    }
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 6, 224, 224]
    assert load_exported_mivolo(path, "onnx", CPU).meta == load_checkpoint(legacy_checkpoint_path).meta


BATCH_SIZES = (1, 3)


@pytest.fixture(scope="module")
def torch_outputs(torch_224):
    """PyTorch's outputs for one random batch of each size."""
    batches = {size: _batch(size, 6, 224, seed=size) for size in BATCH_SIZES}
    with torch.no_grad():
        return {size: (batch, torch_224(batch)) for size, batch in batches.items()}


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_224_matches_pytorch_on_several_batch_sizes(mivolo_224_exports, torch_outputs, backend):
    exported = load_exported_mivolo(mivolo_224_exports[backend], backend, CPU)
    for size, (batch, expected) in torch_outputs.items():
        actual = exported(batch)
        assert actual.shape == (size, 3)
        torch.testing.assert_close(actual, expected, rtol=0, atol=OUTPUT_TOLERANCE)


def test_mivolo_api_gives_the_same_people_with_every_backend(mivolo_224_exports, legacy_checkpoint_path):
    image = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    boxes = [[20, 20, 150, 230], [60, 30, 110, 90], [170, 10, 300, 235], [200, 25, 260, 95], [10, 150, 40, 190]]
    labels = ["person", "face", "person", "face", "face"]

    def people(checkpoint):
        model = MiVOLO(str(checkpoint), device="cpu", half=False, use_persons=True)
        detections = PersonAndFaceResult.from_boxes(image, boxes, labels)
        model.predict(image, detections)
        return model, detections

    torch_model, expected = people(legacy_checkpoint_path)
    assert torch_model.backend == "torch"
    for backend in ("onnx", "openvino"):
        model, actual = people(mivolo_224_exports[backend])
        assert model.backend == backend and model.model_name == "mivolo_d1_224"
        assert model.param_count == torch_model.param_count
        assert actual.genders == expected.genders and None not in actual.genders
        np.testing.assert_allclose(actual.ages, expected.ages, rtol=0, atol=0.011)  # ages are rounded to 0.01


def test_cli_exports_face_only_age_only_model(tmp_path, capsys):
    checkpoint = write_mivolo_checkpoint(
        tmp_path / "volo_face.pth.tar", with_persons=False, no_gender=True, seed=4, min_age=0.0, max_age=122.0, avg_age=61.0
    )
    rc = export_main(["--checkpoint", str(checkpoint), "--output", str(tmp_path / "out"), "--format", "onnx"])
    assert rc == 0
    exported_path = tmp_path / "out" / "volo_face.onnx"
    printed = capsys.readouterr().out
    assert str(exported_path) in printed and "max |diff| vs PyTorch" in printed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["volo_face.onnx"]  # nothing else left behind
    exported = load_exported_mivolo(exported_path, "onnx", CPU)
    assert exported.architecture == "volo_d1_224"
    assert (exported.meta.min_age, exported.meta.max_age, exported.meta.avg_age) == (0.0, 122.0, 61.0)
    assert exported.meta.no_gender and not exported.meta.with_persons_model
    assert exported(_batch(2, 3, 224, seed=7)).shape == (2, 1)


def test_export_384_matches_pytorch(tmp_path):
    """The export compares ONNX Runtime with PyTorch itself (batch 1, not the traced batch of 2)."""
    checkpoint = write_mivolo_checkpoint(tmp_path / "mivolo_d1_384.pth.tar", input_size=384, seed=5)
    (item,) = export_mivolo(checkpoint, tmp_path / "out")
    assert item.max_abs_diff is not None and item.max_abs_diff <= OUTPUT_TOLERANCE
    exported = load_exported_mivolo(item.path, "onnx", CPU)
    assert exported.architecture == "mivolo_d1_384" and exported.meta.input_size == 384


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    rc = export_main(["--checkpoint", str(tmp_path / "missing.pth.tar"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and "missing.pth.tar" in err and "not found" in err
    assert not (tmp_path / "out").exists()


def test_detector_export_needs_the_pytorch_weights(tmp_path, capsys):
    not_pt = tmp_path / "det.onnx"
    not_pt.write_bytes(b"onnx")
    rc = export_main(["--detector-weights", str(not_pt), "--output", str(tmp_path / "out")])
    assert rc == 2 and "must be an ultralytics .pt file" in capsys.readouterr().err


def test_detector_exports_detect_the_same_boxes(detector_path, tmp_path):
    files = export_detector(detector_path, tmp_path)
    paths = {item.format: item.path for item in files}
    assert paths["onnx"] == tmp_path / "yolov8n_person_face.onnx"
    assert paths["openvino"] == tmp_path / "yolov8n_person_face_openvino_model"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging folder removed
    onnx.checker.check_model(onnx.load(str(paths["onnx"])))

    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    reference = Detector(detector_path, device="cpu", imgsz=160).predict(image)
    assert reference.n_faces > 0 and reference.n_persons > 0
    for backend, path in paths.items():
        detector = Detector(path, device="cpu", imgsz=160)
        assert detector.backend == backend
        result = detector.predict(image)
        assert result.labels == reference.labels
        np.testing.assert_allclose(result.boxes_xyxy, reference.boxes_xyxy, rtol=0, atol=BOX_TOLERANCE_PX)
