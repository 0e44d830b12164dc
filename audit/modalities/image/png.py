"""Small PNG figures for the image checks: an encoder (zlib + struct), upscaling, grids, heatmaps.

The image checks save example grids (corruptions, adversarial examples, attribution overlays) as
PNG files in the run folder; the HTML report inlines them. The encoder writes 8-bit RGB PNGs
with the standard library only, so figures need neither Pillow nor matplotlib. Tiny images
(8x8 digits) are upscaled with nearest-neighbour so every pixel stays a visible square.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

CELL_PX = 64  # target size of one upscaled image in a grid
GOOD, BAD = (0, 158, 115), (213, 94, 0)  # Okabe-Ito green / vermillion borders: right / wrong prediction


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array (colour type 2, no filtering)."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array; got shape {a.shape}")
    h, w, _ = a.shape
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), a.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(rgb))
    return path


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A (C, H, W) or (H, W) image in [0, 1] -> (H, W, 3) uint8 (greyscale repeated)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)


def upscale(rgb: np.ndarray, size: int = CELL_PX) -> np.ndarray:
    """Nearest-neighbour upscaling by the integer factor that brings the height near ``size``."""
    factor = max(1, size // max(1, rgb.shape[0]))
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def heat_overlay(image: np.ndarray, attribution: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """Attribution over a dimmed greyscale image: red positive, blue negative, opacity by |value|."""
    base = to_rgb(image).astype(np.float64) * 0.45
    a = np.asarray(attribution, dtype=np.float64)
    a = a.sum(axis=0) if a.ndim == 3 else a
    top = np.abs(a).max()
    t = np.clip(a / top, -1.0, 1.0) if top > 0 else np.zeros_like(a)
    colour = np.where(t[..., None] >= 0, np.array([214.0, 39.0, 40.0]), np.array([31.0, 119.0, 180.0]))
    w = alpha * np.abs(t)[..., None]
    return np.round(base * (1.0 - w) + colour * w).astype(np.uint8)


def grid(cells: list[list[np.ndarray | None]], borders: list[list[tuple[int, int, int] | None]] | None = None, pad: int = 4) -> np.ndarray:
    """Upscaled RGB cells laid out row by row on white, each with an optional coloured border."""
    shaped = [[upscale(c) if c is not None else None for c in row] for row in cells]
    sample = next(c for row in shaped for c in row if c is not None)
    ch, cw = sample.shape[:2]
    n_rows, n_cols = len(shaped), max(len(row) for row in shaped)
    out = np.full((pad + n_rows * (ch + pad), pad + n_cols * (cw + pad), 3), 255, dtype=np.uint8)
    for i, row in enumerate(shaped):
        for j, cell in enumerate(row):
            if cell is None:
                continue
            y, x = pad + i * (ch + pad), pad + j * (cw + pad)
            colour = borders[i][j] if borders is not None else None
            if colour is not None:
                out[y - 2 : y + ch + 2, x - 2 : x + cw + 2] = colour
            out[y : y + ch, x : x + cw] = cell[:ch, :cw]
    return out
