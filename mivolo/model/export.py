"""Export MiVOLO to ONNX (and OpenVINO IR) and the detector to ONNX / OpenVINO through ultralytics.

MiVOLO exports with a dynamic batch axis and the checkpoint meta in its metadata, so an exported
file is a drop-in `--checkpoint`. Every MiVOLO export is checked before it is put in place:
onnx.checker, then a run in the target runtime compared with PyTorch on a fresh random batch.
Nothing half-written is left behind: files are built in the output folder under temporary
names and renamed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import torch

from mivolo.model.backends import (
    ONNX,
    ONNX_SUFFIX,
    OPENVINO,
    OPENVINO_DETECTOR_FOLDER_SUFFIX,
    OPENVINO_SUFFIX,
    load_exported_mivolo,
    require_package,
)
from mivolo.model.backends.metadata import to_metadata
from mivolo.model.export_formats import DEFAULT_OPSET, EXPORT_FORMATS
from mivolo.core.errors import MiVOLOError
from mivolo.io.safe_output import atomic_path, ensure_writable_dir
from mivolo.model.checkpoint import HF_WEIGHTS_NAME, load_checkpoint
from mivolo.model.mivolo_model import MiVOLOModel

INPUT_NAME, OUTPUT_NAME = "input", "output"
# Largest |exported - PyTorch| accepted on the raw outputs (logits and normalised age) of the
# export's own check; fp32 reorderings give ~1e-6, a wrong graph gives > 1e-2.
PARITY_TOLERANCE = 1e-4
TRACE_BATCH = 2
CHECK_BATCH = 1  # differs from the traced batch, so the check also proves the batch axis is dynamic
_CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".pt", ".safetensors")


@dataclass(frozen=True)
class ExportedFile:
    source: Path
    path: Path
    format: str
    max_abs_diff: Optional[float] = None  # vs PyTorch on a random batch; None where not compared


def export_stem(checkpoint: Path) -> str:
    """`mivolo_d1.pth.tar` -> `mivolo_d1`; a Hugging Face folder (or its model.safetensors) -> the folder name."""
    if checkpoint.is_dir():
        return checkpoint.name
    if checkpoint.name == HF_WEIGHTS_NAME:
        return checkpoint.parent.name
    for suffix in _CHECKPOINT_SUFFIXES:
        if checkpoint.name.endswith(suffix):
            return checkpoint.name[: -len(suffix)]
    return checkpoint.stem


@contextlib.contextmanager
def _naming(shown: Path, staged: Path) -> Iterator[None]:
    """Errors about a file staged under a temporary name name the user's file instead."""
    try:
        yield
    except MiVOLOError as exc:
        raise type(exc)(str(exc).replace(str(staged), str(shown))) from None


def _torch_to_onnx(model: MiVOLOModel, sample: torch.Tensor, target: Path, opset: int) -> None:
    # The TorchScript exporter needs no extra package. It warns that shape-derived Python numbers
    # become constants: true here, only the batch axis is dynamic and it stays symbolic.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model,
                (sample,),
                str(target),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        except Exception as exc:  # the exporter raises assorted types for unsupported opsets
            message = " ".join(str(exc).split())[:200]
            raise MiVOLOError(f"torch cannot export MiVOLO at ONNX opset {opset} ({message}); use the default {DEFAULT_OPSET}")


@dataclass(frozen=True)
class _Reference:
    """A random batch and PyTorch's output for it, to check each export against."""

    batch: torch.Tensor
    expected: torch.Tensor

    @classmethod
    def of(cls, model: MiVOLOModel) -> "_Reference":
        generator = torch.Generator().manual_seed(0)
        batch = torch.randn(CHECK_BATCH, model.in_chans, model.img_size, model.img_size, generator=generator)
        with torch.no_grad():
            return cls(batch, model(batch))

    def max_error(self, exported_path: Path, backend: str, target: Path) -> float:
        """Run the export (staged at `exported_path`) in its runtime; refuse it if it strays from
        PyTorch. Errors name the `target` it is staged for."""
        with _naming(target, exported_path):
            exported = load_exported_mivolo(exported_path, backend, torch.device("cpu"))
        error = float((exported(self.batch) - self.expected).abs().max())
        if not error <= PARITY_TOLERANCE:
            raise MiVOLOError(
                f"{target}: the {backend} export differs from PyTorch by {error:.2e} (> {PARITY_TOLERANCE:.0e}); not written"
            )
        return error


def _write_onnx(model: MiVOLOModel, metadata: dict, target: Path, opset: int, reference: _Reference) -> float:
    onnx = require_package("onnx", "ONNX export")
    sample = torch.randn(TRACE_BATCH, model.in_chans, model.img_size, model.img_size)
    with atomic_path(target) as tmp:
        _torch_to_onnx(model, sample, tmp, opset)
        proto = onnx.load(str(tmp))
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        try:
            onnx.checker.check_model(proto, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise MiVOLOError(f"{target}: the ONNX export fails onnx.checker ({' '.join(str(exc).split())[:200]}); not written")
        onnx.save(proto, str(tmp))
        return reference.max_error(tmp, ONNX, target)


def _write_openvino(onnx_path: Path, target: Path, reference: _Reference) -> float:
    """OpenVINO IR (.xml + .bin) converted from the checked ONNX file; its metadata carries over."""
    ov = require_package("openvino", "OpenVINO export")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as work:
        staged = Path(work) / target.name
        ov.save_model(ov.convert_model(str(onnx_path)), str(staged), compress_to_fp16=False)
        error = reference.max_error(staged, OPENVINO, target)
        # weights first: a reader finding the .xml always finds its matching .bin
        os.replace(staged.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(staged, target)
    return error


def _check_formats(formats: Sequence[str]) -> None:
    unknown = [fmt for fmt in formats if fmt not in EXPORT_FORMATS]
    if unknown or not formats:
        raise MiVOLOError(f"export formats must be among {', '.join(EXPORT_FORMATS)}, got {', '.join(formats) or 'none'}")


def export_mivolo(
    checkpoint, output_dir, formats: Sequence[str] = (ONNX,), opset: int = DEFAULT_OPSET
) -> List[ExportedFile]:
    """Export a MiVOLO checkpoint (any supported format) to `<output_dir>/<name>.onnx` and/or `.xml`.

    The ONNX file is always written: the OpenVINO IR is converted from it.
    """
    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    _check_formats(formats)
    loaded = load_checkpoint(checkpoint)
    model = loaded.build_model()
    ensure_writable_dir(output_dir)
    metadata = to_metadata(loaded.meta, param_count=sum(p.numel() for p in model.parameters()))
    stem = export_stem(checkpoint)
    onnx_path = output_dir / f"{stem}{ONNX_SUFFIX}"
    reference = _Reference.of(model)
    results = [ExportedFile(checkpoint, onnx_path, ONNX, _write_onnx(model, metadata, onnx_path, opset, reference))]
    if OPENVINO in formats:
        xml_path = output_dir / f"{stem}{OPENVINO_SUFFIX}"
        results.append(ExportedFile(checkpoint, xml_path, OPENVINO, _write_openvino(onnx_path, xml_path, reference)))
    return results


def _replace(staged: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(staged, target)


def export_detector(weights, output_dir, formats: Sequence[str] = EXPORT_FORMATS, imgsz: int = 640) -> List[ExportedFile]:
    """Export an ultralytics person+face detector with ultralytics' own exporter.

    ONNX: `<name>.onnx`; OpenVINO: the `<name>_openvino_model` folder ultralytics loads. Both
    have dynamic input shapes, so ultralytics letterboxes as for the .pt and detections match.
    """
    from mivolo.model.yolo_detector import Detector, check_detector_file

    weights, output_dir = Path(weights), Path(output_dir)
    _check_formats(formats)
    check_detector_file(weights)  # a .pt: exports are made from the PyTorch weights
    ensure_writable_dir(output_dir)
    if ONNX in formats:
        require_package("onnx", "ONNX export")
    if OPENVINO in formats:
        require_package("openvino", "OpenVINO export")
    results = []
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".export-") as work:
        # ultralytics writes beside its source: export a copy inside the staging folder
        staged_weights = Path(work) / weights.name
        shutil.copy2(weights, staged_weights)
        with _naming(weights, staged_weights):
            detector = Detector(staged_weights, device="cpu", half=False)  # the safe-loading and class checks
        for fmt in formats:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about constant shapes, as above
                try:
                    # no onnxslim pass: one package fewer, and ONNX Runtime optimises the graph when loading
                    options = {"simplify": False} if fmt == ONNX else {}
                    produced = Path(detector.yolo.export(format=fmt, imgsz=imgsz, dynamic=True, device="cpu", **options))
                except Exception as exc:  # ultralytics wraps exporter failures in generic exceptions
                    raise MiVOLOError(f"{weights}: ultralytics {fmt} export failed: {str(exc).splitlines()[0][:200]}")
            name = weights.stem + (ONNX_SUFFIX if fmt == ONNX else OPENVINO_DETECTOR_FOLDER_SUFFIX)
            with _naming(output_dir / name, produced):
                Detector(produced, device="cpu")  # the export opens and still has the person and face classes
            _replace(produced, output_dir / name)
            results.append(ExportedFile(weights, output_dir / name, fmt))
    return results
