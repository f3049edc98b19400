"""MiVOLO checkpoint I/O: the legacy timm `.pth.tar` and the Hugging Face safetensors + config.json.

Weight files are untrusted. Pickles are read with `torch.load(weights_only=True)` and only the
globals that timm checkpoints really hold (an `argparse.Namespace`, numpy scalars) are allowed;
anything else is refused before a byte of it is unpickled. The age scale and flags are checked
(finite numbers, real booleans) and so is every weight (no NaN or infinity). Loading into the
network is strict: every missing, unexpected or mis-shaped key is an error that names the keys.
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import os
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save_file as save_safetensors

from mivolo.core.errors import CheckpointError, UnsafeCheckpointError
from mivolo.io.safe_output import atomic_path, write_json_atomic
from mivolo.model.mivolo_model import FACE_BODY_CHANNELS, FACE_CHANNELS, MiVOLOModel, create_mivolo

HF_WEIGHTS_NAME = "model.safetensors"
HF_CONFIG_NAME = "config.json"
HF_KEY_PREFIX = "mivolo.model."
DATA_PARALLEL_PREFIX = "module."
TRAINING_ONLY_KEY_PART = "fds."  # feature-distribution-smoothing buffers, unused at inference
FACE_BODY_MARKER_KEY = "patch_embed.conv1.0.weight"

_DETECTOR_FILE_MESSAGE = (
    "{path}: this is an ultralytics detector file, not a MiVOLO checkpoint; pass it with --detector-weights"
)


try:
    from numpy._core.multiarray import scalar as _numpy_scalar  # numpy 2 (and a shim in 1.26)
except ImportError:
    from numpy.core.multiarray import scalar as _numpy_scalar


# Rebuilding a numpy scalar sets the state of its dtype, which torch allows only for allowed
# classes: these are the dtype classes of numpy's bool, int and float scalars (numpy 1.26 and 2.x).
_NUMPY_DTYPE_CLASSES = (
    "BoolDType",
    "Float16DType",
    "Float32DType",
    "Float64DType",
    "Int8DType",
    "Int16DType",
    "Int32DType",
    "Int64DType",
    "UInt8DType",
    "UInt16DType",
    "UInt32DType",
    "UInt64DType",
)
# The only non-tensor globals a legacy timm checkpoint needs: the training `args` namespace and
# numpy scalars that may sit in its metric fields. Exact names only: a module prefix would also
# allow the module's functions and attributes.
_ALLOWED_PICKLE_GLOBALS: Dict[str, object] = {
    "argparse.Namespace": argparse.Namespace,
    "numpy.dtype": np.dtype,
    # the name a file holds depends on the numpy that wrote it; numpy 2 renamed numpy.core
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
    **{f"numpy.dtypes.{name}": getattr(np.dtypes, name) for name in _NUMPY_DTYPE_CLASSES},
}


def _finite_number(value, field: str, source: Path) -> float:
    # bool is an int to Python, and numpy's bool is not a number; neither is an age
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise CheckpointError(f"{source}: {field} must be a number, found {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise CheckpointError(f"{source}: {field} must be a finite number, found {_shown(value)}")
    return number


def _flag(value, field: str, source: Path) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise CheckpointError(f"{source}: {field} must be true or false, found {_shown(value)}")
    return bool(value)


def _shown(value) -> str:
    if not isinstance(value, (str, numbers.Number, type(None))):
        return f"a {type(value).__name__}"  # a container may nest too deeply to print
    text = repr(value)
    return f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else f"{text} ({type(value).__name__})"


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about its network and its age scale."""

    min_age: float
    max_age: float
    avg_age: float
    no_gender: bool
    with_persons_model: bool
    input_size: int

    @property
    def num_classes(self) -> int:
        return 1 if self.no_gender else 3

    @property
    def in_chans(self) -> int:
        return FACE_BODY_CHANNELS if self.with_persons_model else FACE_CHANNELS

    @classmethod
    def validated(
        cls, source: Path, *, min_age, max_age, avg_age, no_gender, with_persons_model, input_size: int
    ) -> "CheckpointMeta":
        """The meta of a file, checked: ages finite real numbers with max_age > min_age, flags booleans.

        Every loader builds its meta here, so a NaN age scale cannot reach the decoded ages and a
        string flag cannot be read as True.
        """
        meta = cls(
            min_age=_finite_number(min_age, "min_age", source),
            max_age=_finite_number(max_age, "max_age", source),
            avg_age=_finite_number(avg_age, "avg_age", source),
            no_gender=_flag(no_gender, "no_gender", source),
            with_persons_model=_flag(with_persons_model, "with_persons_model", source),
            input_size=input_size,
        )
        if meta.max_age <= meta.min_age:
            raise CheckpointError(
                f"{source}: max_age ({meta.max_age:g}) must be greater than min_age ({meta.min_age:g})"
            )
        return meta

    def denormalize_age(self, normalized_age: float) -> float:
        """Network output -> years, as the published inference path does it (no clamp)."""
        return normalized_age * (self.max_age - self.min_age) + self.avg_age


@dataclass
class LoadedCheckpoint:
    meta: CheckpointMeta
    state_dict: Dict[str, torch.Tensor]
    path: Path
    file_format: str  # "legacy" or "safetensors"

    def build_model(self) -> MiVOLOModel:
        """The network with these weights, loaded strictly, in eval mode on the CPU."""
        model = create_mivolo(self.meta.input_size, self.meta.in_chans, self.meta.num_classes)
        load_state_dict_strict(model, self.state_dict, source=str(self.path))
        return model.eval()


def safe_torch_load(path: Path, what: str = "checkpoint"):
    """`torch.load(weights_only=True)` allowing only the globals a timm checkpoint needs.

    The file's globals are listed first (without unpickling): anything outside the allow-list is
    refused with its name, so a malicious payload never runs.
    """
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except ValueError:
        needed = []  # not a zip archive: torch.load below still refuses any unknown global
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: cannot read this {what}; the file is truncated or corrupt ({_first_line(exc)})")
    except pickle.UnpicklingError as exc:  # torch.load cannot read these instructions either
        raise CheckpointError(f"{path}: not a loadable {what}: its pickle is corrupt or of an unsupported kind ({exc})")
    if any(name.startswith("ultralytics.") for name in needed):
        raise CheckpointError(_DETECTOR_FILE_MESSAGE.format(path=path))
    refused = sorted(name for name in needed if name not in _ALLOWED_PICKLE_GLOBALS)
    if refused:
        raise UnsafeCheckpointError(
            f"{path}: refused to load: unpickling it would call {', '.join(refused)}, which could run arbitrary code"
        )
    # all of them, not only the names found: torch checks the dtype classes when it rebuilds a scalar
    allowed = [(value, name) for name, value in _ALLOWED_PICKLE_GLOBALS.items()]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: not a loadable {what}: it is corrupt, or needs globals that are not allowed ({_first_line(exc)})"
        )
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path}: cannot read this {what}; the file is truncated or corrupt ({_first_line(exc)})")
    except Exception as exc:  # crafted arguments make the allowed constructors raise anything (TypeError, ...)
        raise CheckpointError(f"{path}: not a loadable {what}: {type(exc).__name__} ({_first_line(exc)})")


def _first_line(exc: BaseException) -> str:
    # torch's weights_only errors put the reason after a long preamble that ends with this
    reason = str(exc).rpartition("WeightsUnpickler error:")[2]
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    return (lines or [type(exc).__name__])[0][:200]


def _check_weights(state_dict: Mapping[str, torch.Tensor], path: Path) -> None:
    """Every weight a tensor, and finite: one NaN weight makes every prediction NaN."""
    for key, value in state_dict.items():
        if not torch.is_tensor(value):
            raise CheckpointError(f"{path}: weight {key} is not a tensor but {_shown(value)}; the file is corrupt")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{path}: weight {key} holds NaN or infinite values; the file is corrupt")


def _clean_state_dict(state_dict: Mapping[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    cleaned = {}
    for key, value in state_dict.items():
        if key.startswith(prefix):
            key = key[len(prefix) :]
        if TRAINING_ONLY_KEY_PART in key:
            continue
        cleaned[key] = value
    return cleaned


def _input_size_from(state_dict: Mapping[str, torch.Tensor], path: Path) -> int:
    if "pos_embed" not in state_dict:
        raise CheckpointError(f"{path}: not a MiVOLO/VOLO checkpoint: it has no 'pos_embed' weight")
    return int(state_dict["pos_embed"].shape[1]) * 16


def _legacy_weights(checkpoint: dict, path: Path) -> Mapping[str, torch.Tensor]:
    # EMA weights win when present, as in timm's loader that the published numbers came from
    for key in ("state_dict_ema", "model_ema", "state_dict"):
        weights = checkpoint.get(key)
        if weights is not None:
            if not isinstance(weights, Mapping):
                raise CheckpointError(f"{path}: '{key}' is not a state_dict")
            return weights
    raise CheckpointError(f"{path}: not a MiVOLO checkpoint: it has no 'state_dict'")


def load_legacy_checkpoint(path: Path) -> LoadedCheckpoint:
    checkpoint = safe_torch_load(path)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: not a MiVOLO checkpoint: expected a dict, found {type(checkpoint).__name__}")
    if "state_dict" not in checkpoint and ("train_args" in checkpoint or "model" in checkpoint):
        # ultralytics classes count as safe once a detector was loaded in this process, so the
        # global scan above cannot always tell; the layout can
        raise CheckpointError(_DETECTOR_FILE_MESSAGE.format(path=path))
    missing = [key for key in ("min_age", "max_age", "avg_age", "no_gender") if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: not a MiVOLO checkpoint: missing {', '.join(missing)}")
    state_dict = _clean_state_dict(_legacy_weights(checkpoint, path), DATA_PARALLEL_PREFIX)
    _check_weights(state_dict, path)
    with_persons = checkpoint.get("with_persons_model")
    if with_persons is None:
        with_persons = FACE_BODY_MARKER_KEY in state_dict
    meta = CheckpointMeta.validated(
        path,
        min_age=checkpoint["min_age"],
        max_age=checkpoint["max_age"],
        avg_age=checkpoint["avg_age"],
        no_gender=checkpoint["no_gender"],
        with_persons_model=with_persons,
        input_size=_input_size_from(state_dict, path),
    )
    return LoadedCheckpoint(meta=meta, state_dict=state_dict, path=path, file_format="legacy")


def load_hf_checkpoint(weights_path: Path, config_path: Path) -> LoadedCheckpoint:
    """MiVOLO v2 as published on the Hugging Face hub: model.safetensors + config.json."""
    if not config_path.is_file():
        raise CheckpointError(f"{weights_path}: the safetensors weights need {config_path.name} beside them")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: bad JSON, or a number too long
        raise CheckpointError(f"{config_path}: not a readable JSON config ({_first_line(exc)})")
    except RecursionError:
        raise CheckpointError(f"{config_path}: not a readable JSON config (nested too deeply)")
    if not isinstance(config, dict):
        found = type(config).__name__
        raise CheckpointError(f"{config_path}: not a MiVOLO config: expected a JSON object, found {found}")
    missing = [key for key in ("min_age", "max_age", "avg_age") if key not in config]
    if missing:
        raise CheckpointError(f"{config_path}: not a MiVOLO config: missing {', '.join(missing)}")
    try:
        raw = load_safetensors(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights_path}: cannot read these safetensors weights; truncated or corrupt ({exc})")
    state_dict = _clean_state_dict(raw, HF_KEY_PREFIX)
    _check_weights(state_dict, weights_path)
    head = state_dict.get("head.weight")
    no_gender = config.get("no_gender")
    if no_gender is None:
        no_gender = head is not None and head.shape[0] == 1
    with_persons = config.get("with_persons_model")
    if with_persons is None:
        with_persons = FACE_BODY_MARKER_KEY in state_dict
    meta = CheckpointMeta.validated(
        config_path,
        min_age=config["min_age"],
        max_age=config["max_age"],
        avg_age=config["avg_age"],
        no_gender=no_gender,
        with_persons_model=with_persons,
        input_size=_input_size_from(state_dict, weights_path),
    )
    return LoadedCheckpoint(meta=meta, state_dict=state_dict, path=weights_path, file_format="safetensors")


def load_checkpoint(path) -> LoadedCheckpoint:
    """Load a MiVOLO checkpoint from a `.pth.tar`/`.pt`, a `.safetensors` file or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        if (path / HF_WEIGHTS_NAME).is_file():
            return load_hf_checkpoint(path / HF_WEIGHTS_NAME, path / HF_CONFIG_NAME)
        candidates = sorted(path.glob("*.pth.tar")) + sorted(path.glob("*.pth"))
        if len(candidates) != 1:
            raise CheckpointError(f"{path}: expected {HF_WEIGHTS_NAME} + {HF_CONFIG_NAME} or one .pth.tar file here")
        path = candidates[0]
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"{path}: checkpoint file is not readable")
    if path.suffix == ".safetensors":
        return load_hf_checkpoint(path, path.with_name(HF_CONFIG_NAME))
    return load_legacy_checkpoint(path)


def load_state_dict_strict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load every key, or fail naming the missing, unexpected and mis-shaped ones."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    mis_shaped = [
        f"{key} {tuple(state_dict[key].shape)} != {tuple(expected[key].shape)}"
        for key in expected
        if key in state_dict and tuple(state_dict[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mis_shaped)):
        if keys:
            problems.append(f"{label} ({len(keys)}): {_preview(keys)}")
    if problems:
        raise CheckpointError(
            f"{source}: weights do not match the {type(model).__name__} network "
            f"(another architecture?): {'; '.join(problems)}"
        )
    model.load_state_dict(state_dict, strict=True)


def _preview(keys: List[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


# ---- writers: the same public formats, used for conversion and for synthetic test weights ----


def save_legacy_checkpoint(
    path, model: MiVOLOModel, meta: CheckpointMeta, ema_state_dict: Optional[Mapping] = None, **extra
) -> Path:
    """Write a timm-saver style `.pth.tar` (as the published MiVOLO v1 files)."""
    payload = {
        "state_dict": model.state_dict(),
        "min_age": meta.min_age,
        "max_age": meta.max_age,
        "avg_age": meta.avg_age,
        "no_gender": meta.no_gender,
        "with_persons_model": meta.with_persons_model,
        **extra,
    }
    if ema_state_dict is not None:
        payload["state_dict_ema"] = dict(ema_state_dict)
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def save_hf_checkpoint(folder, model: MiVOLOModel, meta: CheckpointMeta) -> Path:
    """Write `model.safetensors` (keys prefixed `mivolo.model.`) and `config.json`, as MiVOLO v2."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {**asdict(meta), "num_classes": meta.num_classes, "in_chans": meta.in_chans}
    write_json_atomic(folder / HF_CONFIG_NAME, config)  # first: a meta it refuses leaves no weights behind
    tensors = {HF_KEY_PREFIX + key: value.contiguous() for key, value in model.state_dict().items()}
    with atomic_path(folder / HF_WEIGHTS_NAME) as tmp:
        save_safetensors(tensors, str(tmp))
    return folder
