"""setup_reid_models.py: list, import, select and recommend Re-ID models (offline)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from mivolo.reid import load_reid_encoder
from mivolo.reid.catalog import catalog
from mivolo.devtools.reid_synthetic import write_public_weights
from mivolo.tracking.tracker import TRACKER_DIR

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cli():
    spec = importlib.util.spec_from_file_location("setup_reid_models", REPO / "setup_reid_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture
def models_dir(tmp_path):
    return tmp_path / "models" / "reid"


@pytest.fixture(scope="module")
def osnet_file(tmp_path_factory):
    return write_public_weights("osnet_x0_25", tmp_path_factory.mktemp("src") / "osnet_x0_25_random.pt", seed=4)


def test_list_shows_every_model_with_its_real_source(cli, models_dir, capsys):
    assert cli(["--list", "--models-dir", str(models_dir)]) == 0
    out = capsys.readouterr().out
    for card in catalog().values():
        assert f"{card.name}  [not downloaded]" in out
        assert f"source {card.url}" in out and card.url.startswith("https://")
    assert (
        "family OSNet (osnet_x0_25, torchreid format), 512-d embedding, 0.20M parameters, input 256x128, speed tier edge"
        in out
    )
    assert "CLIP-ReID (clip_vit_b16, CLIP-ReID format), 1280-d embedding, 86.14M parameters" in out
    pinned = [card for card in catalog().values() if card.sha256]
    assert out.count("(pinned)") == len(pinned)
    assert out.count("sha256 not pinned") == len(catalog()) - len(pinned)


def test_import_under_a_catalog_name_files_it_as_a_download(cli, models_dir, tmp_path, capsys):
    source = write_public_weights("osnet_x0_5", tmp_path / "from_usb.pt", seed=1)
    assert cli(["--import", str(source), "--name", "osnet_x0_5_msmt17", "--models-dir", str(models_dir)]) == 0
    assert (models_dir / "osnet_x0_5_msmt17.pt").read_bytes() == source.read_bytes()
    encoder = load_reid_encoder("osnet_x0_5_msmt17", "cpu", models_dir=models_dir)
    assert (encoder.name, encoder.architecture.name, encoder.dim) == ("osnet_x0_5_msmt17", "osnet_x0_5", 512)
    cli(["--list", "--models-dir", str(models_dir)])
    assert "osnet_x0_5_msmt17  [downloaded]" in capsys.readouterr().out


def test_import_refuses_a_file_that_is_not_that_model(cli, models_dir, osnet_file, capsys):
    # osnet_x0_25_msmt17 has a pinned sha256; the random file is not it
    assert cli(["--import", str(osnet_file), "--name", "osnet_x0_25_msmt17", "--models-dir", str(models_dir)]) == 2
    assert "is not the published" in capsys.readouterr().err
    # an OSNet x0_25 file cannot be the x1_0 model: strict loading names the mismatch
    assert cli(["--import", str(osnet_file), "--name", "osnet_x1_0_msmt17", "--models-dir", str(models_dir)]) == 2
    assert "wrong shape" in capsys.readouterr().err
    assert not models_dir.exists() or list(models_dir.iterdir()) == []


def test_import_under_a_new_name_then_use_it_in_the_tracker_config(cli, models_dir, osnet_file, tmp_path):
    assert cli(["--import", str(osnet_file), "--name", "my_osnet", "--models-dir", str(models_dir)]) == 0
    index = json.loads((models_dir / "imported.json").read_text())
    assert index["my_osnet"]["architecture"] == "osnet_x0_25" and index["my_osnet"]["file"] == "my_osnet.pt"

    tracker = tmp_path / "botsort.yaml"
    original = (TRACKER_DIR / "botsort.yaml").read_text()
    tracker.write_text(original)
    assert cli(["--use", "my_osnet", "--tracker", str(tracker), "--models-dir", str(models_dir)]) == 0
    edited = tracker.read_text()
    settings = yaml.safe_load(edited)
    assert settings["with_reid"] is True and settings["model"] == "my_osnet"
    assert {k: v for k, v in settings.items() if k not in ("with_reid", "model")} == {
        k: v for k, v in yaml.safe_load(original).items() if k not in ("with_reid", "model")
    }
    changed = [line for line in edited.splitlines() if line not in original.splitlines()]
    assert len(changed) == 2 and all(line.startswith(("with_reid: true", "model: my_osnet")) for line in changed)
    assert [line for line in edited.splitlines() if line.startswith("#")] == [
        line for line in original.splitlines() if line.startswith("#")
    ]


def test_use_of_a_model_that_is_not_here_changes_nothing(cli, models_dir, tmp_path, capsys):
    tracker = tmp_path / "botsort.yaml"
    tracker.write_text((TRACKER_DIR / "botsort.yaml").read_text())
    before = tracker.read_text()
    assert cli(["--use", "clip_market1501", "--tracker", str(tracker), "--models-dir", str(models_dir)]) == 2
    assert "--download clip_market1501" in capsys.readouterr().err
    assert tracker.read_text() == before


def test_recommend_and_argument_errors(cli, capsys):
    assert cli(["--recommend", "balanced"]) == 0
    assert capsys.readouterr().out.startswith("balanced: osnet_ain_x1_0_msmt17")
    assert cli(["--import", "weights.pt"]) == 2
    assert "--import needs --name" in capsys.readouterr().err
