"""Re-ID models and tracker configs live in the user's data folder, not in the current folder.

A model imported and chosen with `setup_reid_models.py` from one folder is what every run from any
other folder finds; the shipped tracker configs are never edited.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mivolo.devtools.reid_synthetic import write_public_weights
from mivolo.core.paths import data_home
from mivolo.reid.store import models_dir
from mivolo.tracking.tracker import TRACKER_DIR

REPO = Path(__file__).resolve().parent.parent
MODEL = "osnet_x0_25_synthetic"  # a catalog name would be refused: its pinned sha256 is not this file's

RESOLVE_FROM_HERE = """
from mivolo.reid.store import resolve_model
from mivolo.tracking.tracker import load_tracker_config
config = load_tracker_config("botsort.yaml")
print(config.path, config.with_reid, config.model, resolve_model(config.model).path, sep="\\n")
"""


def run_python(args, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "MIVOLO_REID_DIR"}
    env.update(MIVOLO_HOME=str(home), PYTHONPATH=str(REPO))
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_model_imported_and_used_in_one_folder_is_found_from_another(tmp_path):
    home, here, elsewhere = tmp_path / "home", tmp_path / "here", tmp_path / "elsewhere"
    weights = write_public_weights("osnet_x0_25", tmp_path / "usb" / "osnet_x0_25.pt", seed=5)
    shipped = {path.name: sha256(path) for path in TRACKER_DIR.glob("*.yaml")}
    setup = str(REPO / "setup_reid_models.py")

    imported = run_python([setup, "--import", str(weights), "--name", MODEL], here, home)
    assert imported.returncode == 0, imported.stderr
    used = run_python([setup, "--use", MODEL], here, home)
    assert used.returncode == 0, used.stderr
    copy = home / "trackers" / "botsort.yaml"
    assert used.stdout == f"{copy}: with_reid: true, model: {MODEL}\n"
    assert list(here.iterdir()) == []  # nothing went to the folder the commands ran in

    found = run_python(["-c", RESOLVE_FROM_HERE], elsewhere, home)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == [str(copy), "True", MODEL, str(home / "reid" / f"{MODEL}.pt")]
    assert {path.name: sha256(path) for path in TRACKER_DIR.glob("*.yaml")} == shipped

    missing = run_python([setup, "--use", "clip_market1501"], elsewhere, home)
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and f"Re-ID model clip_market1501 is not in {home / 'reid'}: " in missing.stderr


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rule is Linux's")
def test_data_folder_follows_mivolo_home_then_xdg_and_models_folder_its_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIVOLO_HOME", raising=False)
    monkeypatch.delenv("MIVOLO_REID_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_home() == tmp_path / "xdg" / "mivolo"
    assert models_dir() == tmp_path / "xdg" / "mivolo" / "reid"
    monkeypatch.setenv("MIVOLO_HOME", "relative/home")
    assert data_home() == tmp_path / "relative" / "home"  # absolute, so messages name the real folder
    monkeypatch.setenv("MIVOLO_REID_DIR", str(tmp_path / "models"))
    assert models_dir() == tmp_path / "models"
    assert models_dir("given") == tmp_path / "given"  # --models-dir wins over both
