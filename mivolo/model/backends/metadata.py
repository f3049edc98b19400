"""The checkpoint meta an exported MiVOLO carries (ONNX `metadata_props`, OpenVINO `rt_info`).

A legacy checkpoint keeps min/max/avg age and the head layout beside its weights; an export must
keep them too, or ages cannot be decoded. Values are strings, as ONNX metadata requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

from mivolo.core.errors import CheckpointError
from mivolo.model.checkpoint import CheckpointMeta
from mivolo.model.mivolo_model import FACE_BODY_CHANNELS, FACE_CHANNELS, SUPPORTED_INPUT_SIZES, variant_name

META_KEYS = ("architecture", "input_size", "min_age", "max_age", "avg_age", "no_gender", "with_persons_model")
PARAM_COUNT_KEY = "param_count"
# keys ultralytics writes into its exports: a detector passed where MiVOLO is expected
_DETECTOR_KEYS = ("names", "stride", "task")

SUPPORTED_ARCHITECTURES = tuple(
    variant_name(size, chans) for chans in (FACE_BODY_CHANNELS, FACE_CHANNELS) for size in SUPPORTED_INPUT_SIZES
)


@dataclass(frozen=True)
class ExportedModelInfo:
    meta: CheckpointMeta
    architecture: str
    param_count: int


def to_metadata(meta: CheckpointMeta, param_count: int) -> Dict[str, str]:
    return {
        "architecture": variant_name(meta.input_size, meta.in_chans),
        "input_size": str(meta.input_size),
        "min_age": repr(meta.min_age),
        "max_age": repr(meta.max_age),
        "avg_age": repr(meta.avg_age),
        "no_gender": str(meta.no_gender),
        "with_persons_model": str(meta.with_persons_model),
        PARAM_COUNT_KEY: str(param_count),
    }


def _parse_bool(value: str, key: str, path: Path) -> bool:
    if value not in ("True", "False"):
        raise CheckpointError(f"{path}: MiVOLO metadata {key}={value!r} is not True or False")
    return value == "True"


def _parse_int(value: str, key: str, path: Path) -> int:
    try:
        return int(value)
    except ValueError:
        raise CheckpointError(f"{path}: MiVOLO metadata {key}={value!r} is not a whole number") from None


def _parse_float(value: str, key: str, path: Path) -> float:
    # "nan" and "inf" parse; CheckpointMeta.validated refuses them
    try:
        return float(value)
    except ValueError:
        raise CheckpointError(f"{path}: MiVOLO metadata {key}={value!r} is not a number") from None


def from_metadata(
    props: Mapping[str, str], path: Path, input_shape: Sequence[Optional[int]], output_shape: Sequence[Optional[int]]
) -> ExportedModelInfo:
    """Validate an exported file's metadata against the supported variants and its own graph.

    input_shape / output_shape: the graph's, with None for a dynamic dimension.
    """
    missing = [key for key in META_KEYS if key not in props]
    if missing:
        if all(key in props for key in _DETECTOR_KEYS):
            raise CheckpointError(f"{path}: this is an exported ultralytics detector, not MiVOLO; pass it with --detector-weights")
        raise CheckpointError(
            f"{path}: not a MiVOLO export: its metadata lacks {', '.join(missing)}; export with tools/export.py"
        )
    architecture = props["architecture"]
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise CheckpointError(
            f"{path}: exported architecture {architecture!r} is not supported (expected one of {', '.join(SUPPORTED_ARCHITECTURES)})"
        )
    meta = CheckpointMeta.validated(
        path,
        **{key: _parse_float(props[key], key, path) for key in ("min_age", "max_age", "avg_age")},
        **{key: _parse_bool(props[key], key, path) for key in ("no_gender", "with_persons_model")},
        input_size=_parse_int(props["input_size"], "input_size", path),
    )
    param_count = _parse_int(props.get(PARAM_COUNT_KEY, "0"), PARAM_COUNT_KEY, path)
    if variant_name(meta.input_size, meta.in_chans) != architecture:
        raise CheckpointError(f"{path}: metadata says {architecture} but input_size/with_persons_model disagree")
    expected_input = (None, meta.in_chans, meta.input_size, meta.input_size)
    if len(input_shape) != 4 or any(e is not None and s != e for s, e in zip(input_shape, expected_input)):
        raise CheckpointError(
            f"{path}: graph input {list(input_shape)} does not match {architecture} "
            f"(batch x {meta.in_chans} x {meta.input_size} x {meta.input_size}); the file was changed after export"
        )
    if len(output_shape) != 2 or output_shape[1] != meta.num_classes:
        raise CheckpointError(
            f"{path}: graph output {list(output_shape)} does not match a {meta.num_classes}-output head (no_gender={meta.no_gender})"
        )
    if input_shape[0] is not None:
        raise CheckpointError(f"{path}: the batch axis is fixed at {input_shape[0]}; export again with tools/export.py")
    return ExportedModelInfo(meta=meta, architecture=architecture, param_count=param_count)
