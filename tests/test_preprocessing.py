"""Letterbox, normalisation, person masking and association against hand-computed values."""

import numpy as np
import pytest
import torch

from mivolo.core.geometry import assign_faces, box_iou
from mivolo.model.preprocessing import (
    INFERENCE_PERSON_RULE,
    blank_input,
    class_letterbox,
    crop_face,
    crop_person,
    normalize_crop,
    prepare_classification_images,
)


def _content_columns(image):
    cols = np.where(image.reshape(image.shape[0], -1, 3).max(axis=(0, 2)) > 0)[0]
    return cols.min(), cols.max()


@pytest.mark.parametrize("h,w,first,last", [(100, 50, 56, 167), (101, 37, 71, 152)])
def test_letterbox_spec_examples(h, w, first, last):
    out = class_letterbox(np.full((h, w, 3), 200, np.uint8), 224)
    assert out.shape == (224, 224, 3)
    assert _content_columns(out) == (first, last)
    assert out[:, : first].max() == 0 and out[:, last + 1 :].max() == 0


def test_letterbox_keeps_square_input_and_upscales_small_ones():
    square = np.random.RandomState(0).randint(0, 255, (224, 224, 3), np.uint8)
    assert class_letterbox(square, 224) is square
    small = class_letterbox(np.full((10, 20, 3), 9, np.uint8), 224)
    # r = min(224/10, 224/20) = 11.2 -> 224 x 112 content, 56 black rows above and below
    rows = np.where(small.max(axis=(1, 2)) > 0)[0]
    assert (rows.min(), rows.max()) == (56, 167)


def test_normalisation_by_hand():
    pixel_bgr = np.array([[[10, 128, 250]]], np.uint8)  # 1x1 crop
    out = normalize_crop(np.tile(pixel_bgr, (224, 224, 1)), 224)
    rgb = np.array([250, 128, 10]) / 255.0
    expected = (rgb - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert out.dtype == np.float32 and out.shape == (3, 224, 224)
    np.testing.assert_allclose(out[:, 100, 100], expected, rtol=1e-6)


def test_missing_crop_is_the_normalised_black_image():
    blank = blank_input(224)
    np.testing.assert_allclose(blank[:, 0, 0].numpy(), [-2.1179, -2.0357, -1.8044], atol=1e-4)
    batch = prepare_classification_images([None, np.zeros((5, 5, 3), np.uint8)], 224)
    assert batch.shape == (2, 3, 224, 224)
    # a black crop letterboxed is the same constant (float64 vs float32 arithmetic aside)
    assert torch.allclose(batch[0], batch[1], atol=1e-6)


def test_box_iou_and_face_person_cost_by_hand():
    person, face = np.array([[0, 0, 100, 200]]), np.array([[50, 0, 150, 50]])
    # intersection 50*50 = 2500; areas 20000 and 5000; union 22500
    assert box_iou(person, face)[0, 0] == pytest.approx(2500 / 22500)
    assert box_iou(person, face, over_second=True)[0, 0] == pytest.approx((2500 / 5000 + 2500 / 22500) / 2)


def test_assign_faces_hungarian_and_threshold():
    persons = np.array([[0, 0, 100, 300], [90, 0, 200, 300], [500, 500, 600, 600]])
    faces = np.array([[100, 10, 140, 50], [20, 10, 60, 50], [900, 900, 910, 910]])
    result = assign_faces(persons, faces)
    # face 0 lies in person 1, face 1 in person 0, face 2 touches nobody
    assert result.person_of_face == [1, 0, None]
    assert result.unassigned_persons == [2]


def test_assign_faces_one_face_per_person():
    persons = np.array([[0, 0, 100, 300]])
    faces = np.array([[10, 10, 50, 50], [60, 10, 90, 50]])
    result = assign_faces(persons, faces)
    assert sorted(p for p in result.person_of_face if p is not None) == [0]
    assert result.person_of_face.count(None) == 1


def _scene():
    image = np.full((300, 400, 3), 255, np.uint8)
    boxes = np.array(
        [
            [100, 50, 200, 250],  # 0: the person we crop (100 x 200)
            [120, 60, 160, 100],  # 1: their own face (masked too: published quirk)
            [180, 40, 300, 280],  # 2: another person overlapping on the right
        ],
        dtype=np.int32,
    )
    return image, boxes, ["person", "face", "person"]


def test_person_crop_masks_own_face_and_other_person_with_snapping():
    image, boxes, labels = _scene()
    body = crop_person(image, 0, boxes, labels)
    assert body.shape == (200, 100, 3)
    # own face: rows 10..50, columns 20..60 of the crop
    assert body[10:50, 20:60].max() == 0
    assert body[60, 30].min() == 255 and body[5, 30].min() == 255
    # other person starts 80 px into a 100-wide crop: (100-100)/100 < 0.3 snaps its right edge
    # to the border; its top (-10 -> 0) and bottom (230 -> 200) already reach the borders
    assert body[:, 80:].max() == 0
    assert body[:, 79].min() == 255


def test_person_crop_edge_snapping_for_other_person_near_left_border():
    image = np.full((300, 400, 3), 255, np.uint8)
    boxes = np.array([[100, 50, 200, 250], [50, 100, 120, 180]], np.int32)
    body = crop_person(image, 0, boxes, ["person", "person"])
    # other box in crop coords: x 0..20, y 50..130; 50/200 = 0.25 < 0.3 snaps the top to 0,
    # (200-130)/200 = 0.35 keeps the bottom; 20/100 from the right edge? (100-20)/100 = 0.8 keeps it
    assert body[0:130, 0:20].max() == 0
    assert body[130:, 0:20].min() == 255
    assert body[:, 20:].min() == 255


def test_face_boxes_are_not_snapped():
    image = np.full((300, 400, 3), 255, np.uint8)
    boxes = np.array([[100, 50, 200, 250], [105, 60, 125, 80]], np.int32)
    body = crop_person(image, 0, boxes, ["person", "face"])
    assert body[10:30, 5:25].max() == 0
    assert body[0:10, 0:5].min() == 255


def test_small_or_mostly_masked_person_crops_are_unusable():
    image, boxes, labels = _scene()
    small = np.array([[0, 0, 49, 200]], np.int32)
    assert crop_person(image, 0, small, ["person"]) is None
    # a face covering 70% of the body leaves under 40% of values: unusable
    covered = np.array([[0, 0, 100, 100], [0, 0, 100, 70]], np.int32)
    assert crop_person(image, 0, covered, ["person", "face"]) is None
    assert INFERENCE_PERSON_RULE.min_remaining_ratio == 0.4


def test_boxes_are_clamped_and_empty_faces_unusable():
    image = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    face = crop_face(image, np.array([-5, -5, 40, 40]))
    # x clamped to [0, 29], y to [0, 19]: the published cast drops the last row and column
    assert face.shape == (19, 29, 3)
    assert np.array_equal(face, image[0:19, 0:29])
    assert crop_face(image, np.array([5, 5, 5, 9])) is None
