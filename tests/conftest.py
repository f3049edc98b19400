"""Shared synthetic weights, built once per test session in the exact public file formats."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network
os.environ.setdefault("YOLO_OFFLINE", "1")

from mivolo.devtools.synthetic import write_detector, write_mivolo_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def detector_path(weights_dir):
    """Tiny YOLOv8n (classes person, face) saved as ultralytics saves it; rigged to always fire."""
    return write_detector(weights_dir / "yolov8n_person_face.pt")


@pytest.fixture(scope="session")
def legacy_checkpoint_path(weights_dir):
    """Random mivolo_d1_224 face+body in the legacy timm `.pth.tar` format."""
    return write_mivolo_checkpoint(weights_dir / "mivolo_d1_224.pth.tar", file_format="legacy", seed=1)


@pytest.fixture(scope="session")
def hf_checkpoint_dir(weights_dir):
    """Random mivolo_d1_224 face+body as a Hugging Face folder (model.safetensors + config.json)."""
    return write_mivolo_checkpoint(weights_dir / "mivolo_hf", file_format="safetensors", seed=2)


@pytest.fixture(scope="session")
def exported_models(legacy_checkpoint_path, detector_path, weights_dir):
    """The session's detector and MiVOLO exported once to ONNX and OpenVINO, by backend."""
    from mivolo.model.export import export_detector, export_mivolo

    folder = weights_dir / "exported"
    mivolo = {item.format: item.path for item in export_mivolo(legacy_checkpoint_path, folder, formats=("onnx", "openvino"))}
    detector = {item.format: item.path for item in export_detector(detector_path, folder, imgsz=160)}
    return {backend: {"mivolo": mivolo[backend], "detector": detector[backend]} for backend in ("onnx", "openvino")}


@pytest.fixture(autouse=True, scope="session")
def private_data_home(tmp_path_factory):
    """No test reads or writes the real user's data folder (Re-ID models, tracker copies)."""
    previous = os.environ.get("MIVOLO_HOME")
    os.environ["MIVOLO_HOME"] = str(tmp_path_factory.mktemp("mivolo_home"))
    yield
    if previous is None:
        os.environ.pop("MIVOLO_HOME", None)
    else:
        os.environ["MIVOLO_HOME"] = previous
