"""setup_reid_models.py: list, import, select and recommend Re-ID models (offline)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from mivolo.core.errors import MiVOLOError
from mivolo.reid import load_reid_encoder
from mivolo.reid.catalog import catalog
from mivolo.devtools.reid_synthetic import write_public_weights
from mivolo.tracking.tracker import TRACKER_DIR, find_tracker_file, load_tracker_config


@pytest.fixture(scope="module")
def cli():
    from mivolo.cli.reid_setup import main  # what setup_reid_models.py launches

    return main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """The user's data folder, in the test's tmp folder: no test writes to the real one."""
    monkeypatch.setenv("MIVOLO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MIVOLO_REID_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture
def models_dir(tmp_path):
    return tmp_path / "models" / "reid"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def test_use_by_name_writes_the_users_copy_and_never_the_shipped_file(cli, home, osnet_file, capsys):
    shipped = TRACKER_DIR / "botsort.yaml"
    before = sha256(shipped)
    assert cli(["--import", str(osnet_file), "--name", "first_osnet"]) == 0
    assert (home / "reid" / "first_osnet.pt").is_file()  # the default models folder is the data folder's
    assert cli(["--use", "first_osnet"]) == 0
    copy = home / "trackers" / "botsort.yaml"
    assert capsys.readouterr().out.endswith(f"{copy}: with_reid: true, model: first_osnet\n")
    assert sha256(shipped) == before
    comments = [line for line in shipped.read_text().splitlines() if line.startswith("#")]
    assert [line for line in copy.read_text().splitlines() if line.startswith("#")] == comments
    for name in ("botsort", "botsort.yaml"):
        assert find_tracker_file(name) == copy
    assert find_tracker_file("bytetrack") == TRACKER_DIR / "bytetrack.yaml"  # no copy: the shipped one

    # a second --use edits the copy: only the model line changes
    first = copy.read_text()
    assert cli(["--import", str(osnet_file), "--name", "second_osnet"]) == 0
    assert cli(["--use", "second_osnet", "--tracker", "botsort"]) == 0
    changed = [line for line in copy.read_text().splitlines() if line not in first.splitlines()]
    assert len(changed) == 1 and changed[0].startswith("model: second_osnet")
    config = load_tracker_config("botsort.yaml")
    assert (config.path, config.with_reid, config.model) == (copy, True, "second_osnet")
    assert sha256(shipped) == before


def test_use_of_the_shipped_file_by_path_writes_the_copy_instead(cli, home, osnet_file):
    before = sha256(TRACKER_DIR / "botsort_static.yaml")
    assert cli(["--import", str(osnet_file), "--name", "my_osnet"]) == 0
    assert cli(["--use", "my_osnet", "--tracker", str(TRACKER_DIR / "botsort_static.yaml")]) == 0
    assert sha256(TRACKER_DIR / "botsort_static.yaml") == before
    assert load_tracker_config("botsort_static").model == "my_osnet"


def test_missing_tracker_and_missing_model_errors_name_the_absolute_folders(cli, home, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli(["--use", "clip_market1501", "--models-dir", "relative/reid"]) == 2
    assert f"is not in {tmp_path / 'relative' / 'reid'}: run" in capsys.readouterr().err
    assert cli(["--use", "my_own_model"]) == 2
    assert f"my_own_model: neither a Re-ID model in {home / 'reid'} " in capsys.readouterr().err
    with pytest.raises(MiVOLOError) as error:
        find_tracker_file("ocsort")
    message = str(error.value)
    assert f"nor a name in {home / 'trackers'} or {TRACKER_DIR} " in message
    assert "(known: botsort.yaml, botsort_static.yaml, bytetrack.yaml)" in message and "\n" not in message


def test_recommend_and_argument_errors(cli, capsys):
    assert cli(["--recommend", "balanced"]) == 0
    assert capsys.readouterr().out.startswith("balanced: osnet_ain_x1_0_msmt17")
    assert cli(["--import", "weights.pt"]) == 2
    assert "--import needs --name" in capsys.readouterr().err
