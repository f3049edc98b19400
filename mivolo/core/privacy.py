"""--blur-faces: faces made unrecognisable in every image a run writes (annotated video and
images, crops, the report's gallery)."""

from __future__ import annotations

import numpy as np

FACE_CELLS = 6


def blur_faces(image: np.ndarray, face_xyxy: np.ndarray) -> np.ndarray:
    """A copy of the image with every face box (NaN rows: no face) reduced to FACE_CELLS x
    FACE_CELLS averaged colours and smoothed back to its size: unrecognisable whatever the face's
    resolution, which a fixed blur kernel is not. The image itself when there is no face."""
    import cv2

    boxes = np.asarray(face_xyxy, np.float64).reshape(-1, 4)
    boxes = boxes[~np.isnan(boxes).any(axis=1)]
    if len(boxes) == 0:
        return image
    canvas = image.copy()
    height, width = image.shape[:2]
    for x1, y1, x2, y2 in np.round(boxes).astype(int):
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
        if x2 <= x1 or y2 <= y1:
            continue
        cells = cv2.resize(canvas[y1:y2, x1:x2], (FACE_CELLS, FACE_CELLS), interpolation=cv2.INTER_AREA)
        canvas[y1:y2, x1:x2] = cv2.resize(cells, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    return canvas
