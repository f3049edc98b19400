"""Re-ID in tracking: appearance keeps identities through a crossing (mivolo.jobs.crossing_scene); --reid-merge joins fragments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from mivolo.reid import load_reid_encoder
from mivolo.reid.architecture import get_architecture
from mivolo.reid.encoder import ReIDEncoder
from mivolo.reid.loading import LoadedNetwork
from mivolo.tracking.merge import (
    TrackAppearance,
    TrackAppearanceAccumulator,
    merge_fragments,
)
from mivolo.jobs.crossing_scene import crossing_frame, crossing_positions, person_box
from mivolo.devtools.reid_synthetic import random_network, write_public_weights
from mivolo.tracking.tracker import TRACKER_DIR, create_tracker, load_tracker_config
from scripted_people import bodies


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The CI machine's few cores are shared: one intra-op thread is faster than contended two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def track_ids_per_frame(tracker):
    rng = np.random.default_rng(0)
    ids = []
    for a, b in crossing_positions():  # A is person 1 (red shirt), B person 2 (blue)
        tracked = tracker.update(bodies(person_box(a), person_box(b)), crossing_frame(a, b, rng))
        ids.append({"AB"[int(body)]: int(track_id) for body, track_id in zip(tracked.body_index, tracked.track_id)})
    return ids


@pytest.fixture(scope="module")
def botsort_config(tmp_path_factory):
    settings = yaml.safe_load((TRACKER_DIR / "botsort.yaml").read_text())
    settings.update(gmc_method="none", with_reid=False)  # a still synthetic camera
    path = tmp_path_factory.mktemp("trackers") / "botsort.yaml"
    path.write_text(yaml.safe_dump(settings))
    return load_tracker_config(str(path))


@pytest.fixture(scope="module")
def separating_encoder(tmp_path_factory):
    """A real OSNet x0_25 loaded from its torchreid file, its embedding BatchNorm fitted to the scene.

    Random convolution weights give near-identical embeddings for any crop; fitting the BatchNorm
    statistics of the `fc` block on crops of the two people (what training does to them) centres
    the features so that the two shirts land on different embeddings.
    """
    spec = get_architecture("osnet_x0_25")
    network = random_network("osnet_x0_25", seed=5)
    calibration = ReIDEncoder(LoadedNetwork(network, spec, None), "calibration", "cpu")
    features = []
    hook = network.fc[0].register_forward_hook(lambda module, inputs, output: features.append(output))
    rng = np.random.default_rng(1)
    for a, b in list(crossing_positions())[:6]:
        calibration.embed(crossing_frame(a, b, rng), np.stack([person_box(a), person_box(b)]))
    hook.remove()
    stacked = torch.cat(features)
    with torch.no_grad():
        network.fc[1].running_mean.copy_(stacked.mean(0))
        network.fc[1].running_var.copy_(stacked.var(0) + 1e-5)
    path = write_public_weights(
        "osnet_x0_25", tmp_path_factory.mktemp("reid") / "osnet_x0_25_scene.pt", network=network
    )
    return load_reid_encoder(path, "cpu")


def test_the_encoder_separates_the_two_people(separating_encoder):
    rng = np.random.default_rng(2)
    positions = list(crossing_positions())
    (a0, b0), (a1, b1) = positions[0], positions[20]
    early = separating_encoder.embed(crossing_frame(a0, b0, rng), np.stack([person_box(a0), person_box(b0)]))
    late = separating_encoder.embed(crossing_frame(a1, b1, rng), np.stack([person_box(a1), person_box(b1)]))
    assert early[0] @ early[1] < 0.5  # A vs B
    assert early[0] @ late[0] > 0.9 and early[1] @ late[1] > 0.9  # each person with themself later


def test_iou_only_botsort_swaps_the_crossing_people(botsort_config):
    ids = track_ids_per_frame(create_tracker(botsort_config))
    first, last = ids[0], ids[-1]
    assert first["A"] != first["B"]
    assert (last["A"], last["B"]) == (first["B"], first["A"])


def test_reid_botsort_keeps_both_identities(botsort_config, separating_encoder):
    ids = track_ids_per_frame(create_tracker(botsort_config, separating_encoder))
    assert all(frame_ids == ids[0] for frame_ids in ids), ids
    assert ids[0]["A"] != ids[0]["B"]


# ---- --reid-merge -------------------------------------------------------------------------


def appearance(track_id, first, last, vector, observations=10):
    vector = np.asarray(vector, dtype=np.float64)
    return TrackAppearance(track_id, first, last, vector / np.linalg.norm(vector), observations)


def test_merge_joins_fragments_of_people_who_came_back():
    tracks = [
        appearance(1, 0, 9, [1, 0, 0]),
        appearance(2, 0, 30, [0, 1, 0]),
        appearance(3, 50, 59, [0.9, 0.1, 0]),  # person 1 again: cosine 0.994 with track 1
        appearance(4, 40, 70, [0.1, 0.95, 0.3]),  # person 2 again: cosine 0.949 with track 2
    ]
    result = merge_fragments(tracks, threshold=0.75)
    assert result.groups == ((1, 3), (2, 4))
    assert result.person_of_track == {1: 1, 3: 1, 2: 2, 4: 2}
    assert result.people == 2


def test_merge_never_joins_tracks_seen_in_the_same_frame():
    twins = [appearance(1, 0, 20, [1, 0]), appearance(2, 20, 40, [1, 0])]  # both visible in frame 20
    assert merge_fragments(twins, threshold=0.5).groups == ((1,), (2,))


def test_merge_threshold_is_the_cosine_similarity():
    pair = [appearance(7, 0, 5, [1, 0]), appearance(9, 10, 15, [0.8, 0.6])]  # cosine exactly 0.8
    assert merge_fragments(pair, threshold=0.8).groups == ((7, 9),)
    assert merge_fragments(pair, threshold=0.81).groups == ((7,), (9,))


def test_merge_compares_group_means_not_single_links():
    # B is 30 degrees from A and from C; A and C are 60 degrees apart. After A+B join, their mean
    # (15 degrees) is 45 degrees from C: cosine 0.707 < 0.8, so C stays a different person.
    angles = {1: 0, 2: 30, 3: 60}
    tracks = [
        appearance(t, 10 * t, 10 * t + 5, [np.cos(np.radians(a)), np.sin(np.radians(a))]) for t, a in angles.items()
    ]
    assert merge_fragments(tracks, threshold=0.8).groups == ((1, 2), (3,))


def test_accumulator_averages_each_tracks_embeddings():
    accumulator = TrackAppearanceAccumulator()
    accumulator.add(5, 3, np.array([1.0, 0.0]))
    accumulator.add(5, 8, np.array([0.0, 1.0]))
    accumulator.add(2, 4, np.array([0.6, 0.8]))
    summaries = {s.track_id: s for s in accumulator.summaries()}
    assert (summaries[5].first_frame, summaries[5].last_frame, summaries[5].observations) == (3, 8, 2)
    np.testing.assert_allclose(summaries[5].mean_embedding, [2**-0.5, 2**-0.5])
    np.testing.assert_allclose(summaries[2].mean_embedding, [0.6, 0.8])
