"""Reading image files: the size from the header first, so that an image too big to decode is
refused before it takes the memory (a 100 KB PNG can say 30000 x 30000 pixels: 2.7 GB decoded)."""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np

import mivolo.io.quiet_opencv  # noqa: F401  (OpenCV's own warnings would add lines to our one-line errors)

# 100 megapixels (e.g. 12000 x 8000): every camera's photos, while a decoded image stays under 300 MB
DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
_JPEG_FRAME_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-15 (not DHT, JPG, DAC)


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD9:  # markers without a length
            position += 2
        elif marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack_from(">HH", data, position + 5)
            return width, height
        else:
            position += 2 + struct.unpack_from(">H", data, position + 2)[0]
    return None


def _webp_size(data: bytes) -> Optional[Tuple[int, int]]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None


def _tiff_size(data: bytes) -> Optional[Tuple[int, int]]:
    order = "<" if data[:2] == b"II" else ">"
    offset = struct.unpack_from(order + "I", data, 4)[0]
    size = {}
    for entry in range(struct.unpack_from(order + "H", data, offset)[0]):
        tag, kind = struct.unpack_from(order + "HH", data, offset + 2 + 12 * entry)
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            size[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), data, offset + 10 + 12 * entry)[0]
    return (size[256], size[257]) if len(size) == 2 else None


def header_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from a PNG, JPEG, BMP, WebP or TIFF header, without decoding; None for
    another format or a header cut short (the decoder then says what is wrong)."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack_from(">II", data, 16)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
        if data[:2] == b"BM":
            if struct.unpack_from("<I", data, 14)[0] == 12:  # the OS/2 header
                return struct.unpack_from("<HH", data, 18)
            width, height = struct.unpack_from("<ii", data, 18)
            return abs(width), abs(height)  # a negative height is a top-down bitmap
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(data)
    except struct.error:
        return None
    return None


@contextlib.contextmanager
def _stderr_silenced():
    """libpng prints its own errors straight to the process's stderr ("libpng error: ..."), past
    OpenCV's logging: file descriptor 2 points at /dev/null while an image is decoded."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image (BGR), or raise ValueError with the reason in one line: not an image, too
    many pixels (over `max_pixels`, read from the header), or the decoder's own error."""
    data = np.fromfile(str(path), dtype=np.uint8)
    size = header_size(data.tobytes())
    if size is not None and size[0] * size[1] > max_pixels:
        raise ValueError(
            f"{size[0]}x{size[1]} pixels is more than --max-image-pixels {max_pixels} allows (not decoded)"
        )
    try:
        with _stderr_silenced():
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as exc:  # e.g. over OpenCV's own limit of 2^30 pixels
        raise ValueError(f"not a decodable image (OpenCV: {' '.join(str(exc.err).split())})") from exc
    except MemoryError as exc:
        raise ValueError("not enough memory to decode this image") from exc
    if image is None:
        raise ValueError("not a decodable image")
    return image
