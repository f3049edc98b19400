"""MiVOLO.predict: batch composition, de-normalisation and unknown persons, on real checkpoints."""

import math

import numpy as np
import pytest
import torch

from mivolo.core.errors import MiVOLOError
from mivolo.model.checkpoint import save_legacy_checkpoint
from mivolo.model.mi_volo import BatchRow, MiVOLO, compose_rows
from mivolo.model.preprocessing import blank_input, crop_person, normalize_crop
from mivolo.model.structures import PersonAndFaceResult
from mivolo.devtools.synthetic import random_mivolo


def _scene():
    rng = np.random.RandomState(0)
    image = rng.randint(0, 255, (360, 480, 3), dtype=np.uint8)
    boxes = [
        [20, 20, 140, 340],  # 0 person A
        [50, 30, 100, 90],  # 1 face of A
        [300, 40, 340, 90],  # 2 face B, no body
        [200, 100, 290, 350],  # 3 person C, no face
        [420, 300, 460, 340],  # 4 person D: 40 px, no usable body crop, no face -> unknown
    ]
    labels = ["person", "face", "face", "person", "person"]
    return image, boxes, labels


@pytest.fixture(scope="module")
def controlled_checkpoint(tmp_path_factory):
    """All weights zero: output = head.bias + 0.5 * aux_head.bias, whatever the input."""
    model, meta = random_mivolo(224, with_persons=True)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.zero_()
        model.head.bias.copy_(torch.tensor([1.0, 0.0, 0.25]))
        model.aux_head.bias.copy_(torch.tensor([0.0, 0.0, 0.1]))
    return save_legacy_checkpoint(tmp_path_factory.mktemp("ctl") / "ctl.pth.tar", model, meta)


def test_denormalisation_and_gender_score_by_hand(controlled_checkpoint):
    estimator = MiVOLO(str(controlled_checkpoint), device="cpu", half=False, use_persons=True)
    image, boxes, labels = _scene()
    result = PersonAndFaceResult.from_boxes(image, boxes, labels)
    estimator.predict(image, result)
    # age = (0.25 + 0.5 * 0.1) * (95 - 1) + 48 = 76.2; gender = softmax([1, 0]) -> male
    expected_score = 1 / (1 + math.exp(-1))
    for ind in (0, 1, 2, 3):
        assert result.ages[ind] == 76.2
        assert result.genders[ind] == "male"
        assert result.gender_scores[ind] == pytest.approx(expected_score, abs=1e-6)
    # person D has no face and a 40 px body: unknown instead of a guess from a blank input
    assert (result.ages[4], result.genders[4], result.gender_scores[4]) == (None, None, None)
    assert result.face_to_person_map == {1: 0, 2: None}


def test_rows_follow_published_order():
    image, boxes, labels = _scene()
    people = PersonAndFaceResult.from_boxes(image, boxes, labels).record
    # people: face 1 with body 0, face 2 alone, then bodies 3 and 4 alone
    assert list(zip(people.face_index, people.body_index)) == [(1, 0), (2, -1), (-1, 3), (-1, 4)]
    assert compose_rows(people, True, True) == [BatchRow(0, True, True), BatchRow(1, True, False), BatchRow(2, False, True), BatchRow(3, False, True)]
    assert compose_rows(people, True, False) == [BatchRow(0, True, False), BatchRow(1, True, False)]
    assert compose_rows(people, False, True) == [BatchRow(0, False, True), BatchRow(2, False, True), BatchRow(3, False, True)]


def _expected(model, meta, face, body):
    face_t = blank_input(224) if face is None else torch.from_numpy(normalize_crop(face, 224))
    body_t = blank_input(224) if body is None else torch.from_numpy(normalize_crop(body, 224))
    with torch.no_grad():
        out = model(torch.cat((face_t, body_t))[None])[0]
    probs = out[:2].softmax(-1)
    return round(out[2].item() * (meta.max_age - meta.min_age) + meta.avg_age, 2), int(probs.argmax()), probs.max().item()


def test_each_box_gets_the_estimate_of_its_own_crops(legacy_checkpoint_path):
    from mivolo.model.checkpoint import load_checkpoint

    loaded = load_checkpoint(legacy_checkpoint_path)
    model, meta = loaded.build_model(), loaded.meta
    image, boxes, labels = _scene()
    int_boxes = np.array(boxes, np.int32)
    estimator = MiVOLO(str(legacy_checkpoint_path), device="cpu", half=False, use_persons=True)
    result = PersonAndFaceResult.from_boxes(image, boxes, labels)
    estimator.predict(image, result)

    def face(i):
        x1, y1, x2, y2 = boxes[i]
        return image[y1:y2, x1:x2].copy()

    expectations = {
        (1, 0): _expected(model, meta, face(1), crop_person(image, 0, int_boxes, labels)),
        (2,): _expected(model, meta, face(2), None),
        (3,): _expected(model, meta, None, crop_person(image, 3, int_boxes, labels)),
    }
    for indices, (age, gender_index, score) in expectations.items():
        for ind in indices:
            assert result.ages[ind] == pytest.approx(age, abs=0.011)
            assert result.genders[ind] == ("male", "female")[gender_index]
            assert result.gender_scores[ind] == pytest.approx(score, abs=1e-5)
    assert len({result.ages[0], result.ages[2], result.ages[3]}) == 3  # really different inputs


def test_faces_only_mode_leaves_bodies_without_estimate(legacy_checkpoint_path):
    estimator = MiVOLO(str(legacy_checkpoint_path), device="cpu", half=False, use_persons=False)
    image, boxes, labels = _scene()
    result = PersonAndFaceResult.from_boxes(image, boxes, labels)
    estimator.predict(image, result)
    assert result.ages[1] is not None and result.ages[2] is not None
    assert result.ages[0] is None and result.ages[3] is None
    people = result.people()  # the per-human view pairs face 1 with person 0 afterwards
    pair = next(p for p in people if p.face_index == 1)
    assert pair.person_index == 0 and pair.age == result.ages[1]


def test_disable_faces_uses_bodies_only(legacy_checkpoint_path):
    estimator = MiVOLO(str(legacy_checkpoint_path), device="cpu", half=False, use_persons=True, disable_faces=True)
    image, boxes, labels = _scene()
    result = PersonAndFaceResult.from_boxes(image, boxes, labels)
    estimator.predict(image, result)
    assert result.ages[0] is not None and result.ages[3] is not None
    assert result.ages[1] is None and result.ages[2] is None and result.ages[4] is None


def test_invalid_mode_combinations(legacy_checkpoint_path, tmp_path):
    with pytest.raises(MiVOLOError, match="--with-persons"):
        MiVOLO(str(legacy_checkpoint_path), device="cpu", use_persons=False, disable_faces=True)
    model, meta = random_mivolo(224, with_persons=False)
    face_only = save_legacy_checkpoint(tmp_path / "face.pth.tar", model, meta)
    with pytest.raises(MiVOLOError, match="face-only"):
        MiVOLO(str(face_only), device="cpu", disable_faces=True)


def test_unavailable_gpu_is_a_clear_error(legacy_checkpoint_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(MiVOLOError, match="no CUDA GPU"):
        MiVOLO(str(legacy_checkpoint_path), device="cuda")


def test_plot_labels():
    image, boxes, labels = _scene()
    result = PersonAndFaceResult.from_boxes(image, boxes, labels, track_ids=[7, 7, 8, 9, 10])
    result.set_age(0, 31.54)
    result.set_gender(0, "male", 0.9)
    result.set_age(2, 20.0)
    result.set_gender(2, "female", 0.8)
    assert result.box_label(0) == "id:7 person 31.5 M"
    assert result.box_label(2) == "id:8 face 20.0 F"
    assert result.box_label(4) == "id:10 person"
    drawn = result.plot()
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)


def test_a_face_label_never_hides_its_body_label():
    """The face sits at the top of its body: the body's label goes to the bottom of the body box,
    the face's above the face, and the middle of the body stays clear of text."""
    image = np.full((480, 640, 3), 90, np.uint8)
    body, face = [200.0, 100.0, 320.0, 420.0], [230.0, 104.0, 290.0, 164.0]
    result = PersonAndFaceResult.from_boxes(image, [body, face], ["person", "face"])
    for index in (0, 1):
        result.set_age(index, 31.54)
        result.set_gender(index, "male", 0.9)
    drawn = result.plot()
    changed = np.any(drawn != image, axis=2)
    assert changed[400:440, 205:260].sum() > 200  # the body's label, at its bottom edge
    assert changed[80:104, 232:280].sum() > 100  # the face's label, above the face
    assert not changed[200:380, 210:310].any()  # nothing written over the middle of the body
