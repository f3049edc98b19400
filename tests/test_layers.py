"""The package's layers only import downwards, and the command lines stay light to import."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mivolo"
# lowest first: a module may import its own layer and the layers before it, never one after it
LAYERS = ["core", "io", "model", "reid", "tracking", "analytics", "sinks", ("jobs", "evaluation"), "cli", "devtools"]
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in (layer if isinstance(layer, tuple) else (layer,))}
# the published import paths (mivolo.predictor, mivolo.structures) re-export the model layer
TOP_LEVEL_RANK = RANK["model"]


def layer_of(module: str) -> int:
    parts = module.split(".")
    if parts[0] != "mivolo" or len(parts) == 1:
        return -1
    return RANK.get(parts[1], TOP_LEVEL_RANK)


def imported_modules(path: Path):
    """Every mivolo module a file imports, at the top or inside functions, with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            if node.module == "mivolo":  # `from mivolo import cli` imports the package mivolo.cli
                for alias in node.names:
                    yield f"mivolo.{alias.name}", node.lineno


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def backward_imports():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        rank = layer_of(name)
        for imported, line in imported_modules(path):
            target = layer_of(imported)
            if target > rank and imported.split(".")[1] in RANK:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports {imported}")
    return found


def test_every_layer_imports_only_downwards():
    assert backward_imports() == []


def test_the_layer_check_catches_a_backward_import(tmp_path, monkeypatch):
    """A model module importing the jobs layer must be reported (the check itself can fail)."""
    fake = tmp_path / "mivolo"
    (fake / "model").mkdir(parents=True)
    (fake / "model" / "bad.py").write_text("from mivolo.jobs.video_job import run_video\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert backward_imports() == ["mivolo/model/bad.py:1: mivolo.model.bad imports mivolo.jobs.video_job"]


@pytest.mark.parametrize(
    "module", ["mivolo.cli.demo", "mivolo.cli.eval", "mivolo.cli.reid_setup", "mivolo.cli.reid_compare", "mivolo.cli.export", "mivolo.cli.main"]
)
def test_command_lines_build_their_help_without_the_heavy_libraries(module):
    """--help and argument errors must answer at once: building a parser imports no torch,
    ultralytics, scipy, supervision or ray (seconds to import), only what argparse needs."""
    code = (
        f"import sys, importlib; m = importlib.import_module({module!r}); "
        "getattr(m, 'build_parser', None) and m.build_parser(); "
        "print(sorted(name for name in ('torch', 'ultralytics', 'scipy', 'supervision', 'onnxruntime', 'openvino', 'ray') if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
