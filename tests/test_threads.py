"""One thread count per run, chosen in the Runtime and given to every library.

Default: the physical cores the process may use; `--threads N` overrides it. torch's and
OpenCV's pools are set before the models load and put back after ultralytics' predictor setup
lowers torch's; ONNX Runtime and OpenVINO get it in their session / compile options. Every
figure here is read back from the library itself.
"""

from __future__ import annotations

import cv2
import pytest
import torch

from mivolo.cli.common import add_runtime_arguments, runtime_of
from mivolo.core.errors import MiVOLOError
from mivolo.core.runtime import Runtime, physical_cores
from mivolo.model.mi_volo import MiVOLO
from mivolo.model.yolo_detector import Detector


@pytest.fixture(autouse=True)
def restore_threads():
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def fake_sysfs(root, cores_of_cpu):
    for cpu, (package, core) in enumerate(cores_of_cpu):
        topology = root / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return str(root)


def test_physical_cores_count_smt_siblings_once(tmp_path):
    # 6 CPUs: cores 0 and 1 of package 0 with two siblings each, core 0 of package 1 with two
    sysfs = fake_sysfs(tmp_path, [(0, 0), (0, 0), (0, 1), (0, 1), (1, 0), (1, 0)])
    assert physical_cores(range(6), sysfs) == 3
    assert physical_cores([0, 1], sysfs) == 1  # a process pinned to one core's two siblings
    assert physical_cores([0, 2, 4], sysfs) == 3
    assert physical_cores([7], sysfs) == 1  # no topology: the CPU counts as a core


def test_default_threads_are_the_physical_cores_and_threads_are_checked():
    assert Runtime.resolve("cpu").threads == physical_cores()
    assert Runtime.resolve("cpu", threads=3).threads == 3
    with pytest.raises(MiVOLOError, match="--threads must be at least 1"):
        Runtime.resolve("cpu", threads=0)


def test_every_command_has_threads_and_precision_flags():
    import argparse

    parser = argparse.ArgumentParser()
    add_runtime_arguments(parser)
    runtime = runtime_of(parser.parse_args(["--device", "cpu", "--threads", "1", "--precision", "bf16"]))
    assert (runtime.threads, runtime.precision) == (1, "bf16")
    assert runtime_of(parser.parse_args(["--device", "cpu"])).precision == "fp32"


@pytest.mark.parametrize("threads", [1, 2])
def test_torch_and_opencv_keep_the_runs_threads_after_ultralytics_lowers_them(detector_path, threads):
    torch.set_num_threads(4)
    cv2.setNumThreads(4)
    runtime = Runtime.resolve("cpu", threads=threads)
    detector = Detector(detector_path, imgsz=64, runtime=runtime)
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (threads, threads)  # set before the model loads
    detector.predict_batch([torch.zeros(64, 64, 3, dtype=torch.uint8).numpy()] * 2)
    # ultralytics' predictor setup called torch.set_num_threads(min(8, cores - 1)) meanwhile
    assert torch.get_num_threads() == threads
    assert detector.threads_in_use() == f"torch {threads} threads"


@pytest.mark.parametrize("backend, expected", [("onnx", "onnxruntime intra_op_num_threads=1"),
                                               ("openvino", "openvino INFERENCE_NUM_THREADS=1, precision f32")])  # fmt: skip
def test_exported_mivolo_sessions_run_with_the_runs_threads(exported_models, backend, expected):
    runtime = Runtime.resolve("cpu", backend=backend, threads=1)
    mivolo = MiVOLO(str(exported_models[backend]["mivolo"]), use_persons=True, runtime=runtime)
    assert mivolo.threads_in_use() == expected


def test_exported_detector_reports_its_sessions_threads(exported_models):
    detector = Detector(exported_models["onnx"]["detector"], imgsz=160, runtime=Runtime.resolve("cpu", backend="onnx"))
    detector.predict(torch.zeros(160, 160, 3, dtype=torch.uint8).numpy())
    assert detector.threads_in_use().startswith("onnxruntime intra_op_num_threads=")
