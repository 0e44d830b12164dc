"""Image datasets: scikit-learn's bundled digits, an ``.npz`` archive, or a folder of images.

Every source becomes float32 pixels in [0, 1] shaped ``(n, C, H, W)`` with integer class codes,
split with the same seeded stratified split as tabular data. Images carry no sensitive
attributes; the per-class view of fairness is the ``class_disparity`` check.

* ``builtin: digits``: 1,797 8x8 greyscale digits (pixel values 0..16, scaled by 1/16).
* ``path: file.npz``: images under ``x`` or ``images`` (or ``options.images_key``), labels
  under the key named by ``target`` when the archive has it, else ``y`` or ``labels``.
  Shapes (n, H, W), (n, C, H, W) or (n, H, W, C) with C in {1, 3}; integer pixels or any
  pixels above 1 are divided by 255 (or ``options.scale``).
* ``path: folder/``: one subfolder per class holding PNG/JPEG files (read with Pillow), all of
  one size (or resized to ``options.size: [H, W]``), converted to ``options.mode`` L or RGB.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.data.base import DataBundle, Dataset, Schema
from audit.data.files import file_kind, require_file
from audit.errors import DataError, MissingExtra
from audit.registry import DATASETS
from audit.suite import Suite

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPZ_IMAGE_KEYS = ("x", "images")
NPZ_LABEL_KEYS = ("y", "labels")
OPTIONS = {"npz": {"images_key", "scale"}, "folder": {"mode", "size"}}


class ImageArrays:
    """What an image loader returns: pixels (n, C, H, W) in [0, 1], raw labels, loader defaults."""

    def __init__(self, X: np.ndarray, labels: np.ndarray, target: str = "label") -> None:
        self.X = X
        self.labels = labels
        self.target = target

    def __iter__(self) -> Any:
        """The tabular loader unpacks ``(frame, defaults)``; an image dataset answers it with advice."""
        raise DataError("this built-in dataset holds images; set data.modality: image in the suite")


def load_digits(n_class: int = 10) -> ImageArrays:
    """scikit-learn's bundled 8x8 digits (UCI optical recognition), pixels scaled from 0..16 to [0, 1]."""
    from sklearn.datasets import load_digits as sk_load_digits

    if not isinstance(n_class, int) or not 2 <= n_class <= 10:
        raise DataError(f"data.options.n_class: expected an integer from 2 to 10; got {n_class!r}")
    bunch = sk_load_digits(n_class=n_class)
    X = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    return ImageArrays(X, bunch.target.astype(np.int64), target="digit")


def _check_options(options: dict[str, Any], fmt: str, where: str) -> None:
    unknown = sorted(set(options) - OPTIONS[fmt])
    if unknown:
        raise DataError(f"{where}: data.options: unknown option '{unknown[0]}' for {fmt} images; allowed: {', '.join(sorted(OPTIONS[fmt]))}")


def _to_nchw(images: np.ndarray, source: str) -> np.ndarray:
    if images.ndim == 3:
        return images[:, None, :, :]
    if images.ndim == 4 and images.shape[1] in (1, 3):
        return images
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return np.moveaxis(images, -1, 1)
    raise DataError(f"{source}: images have shape {images.shape}; expected (n, H, W), (n, C, H, W) or (n, H, W, C) with C 1 or 3")


def _scale(images: np.ndarray, scale: float | None, source: str) -> np.ndarray:
    if not np.issubdtype(images.dtype, np.number) or np.issubdtype(images.dtype, np.complexfloating):
        raise DataError(f"{source}: images must be numeric arrays; got dtype {images.dtype}")
    pixels = images.astype(np.float64)
    if not np.isfinite(pixels).all():
        raise DataError(f"{source}: images contain NaN or infinite pixel values")
    if scale is None:
        scale = 255.0 if np.issubdtype(images.dtype, np.integer) or pixels.max(initial=0.0) > 1.0 else 1.0
    pixels = pixels / float(scale)
    if pixels.min(initial=0.0) < 0.0 or pixels.max(initial=0.0) > 1.0:
        raise DataError(f"{source}: pixel values fall outside [0, {scale:g}]; set data.options.scale to the maximum pixel value")
    return pixels.astype(np.float32)


def load_npz(path: Path, target: str | None, options: dict[str, Any], where: str) -> ImageArrays:
    _check_options(options, "npz", where)
    require_file(path)
    try:
        archive = np.load(path, allow_pickle=False)
        keys = list(archive.files)
    except Exception as exc:  # numpy raises several types for a file that is not an archive
        raise DataError(f"{path}: cannot read it as an .npz archive ({exc.__class__.__name__}: {exc})") from None
    image_keys = (options["images_key"],) if "images_key" in options else NPZ_IMAGE_KEYS
    label_keys = ((target,) if target in keys else ()) + NPZ_LABEL_KEYS
    image_key = next((k for k in image_keys if k in keys), None)
    label_key = next((k for k in label_keys if k in keys), None)
    if image_key is None or label_key is None:
        missing = "images" if image_key is None else "labels"
        wanted = image_keys if image_key is None else label_keys
        raise DataError(f"{path}: no {missing} array in the archive; expected one of the keys {', '.join(wanted)}; found {', '.join(sorted(keys)) or 'none'}")
    try:
        images, labels = archive[image_key], archive[label_key]
    except ValueError as exc:  # object arrays need pickle, which we refuse
        raise DataError(f"{path}: cannot read arrays without pickle ({exc}); save plain numeric arrays") from None
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{path}: labels '{label_key}' have shape {labels.shape}; expected one label per image ({len(images)},)")
    X = _scale(_to_nchw(images, str(path)), options.get("scale"), str(path))
    return ImageArrays(X, labels, target=target or "label")


def load_folder(path: Path, target: str | None, options: dict[str, Any], where: str) -> ImageArrays:
    _check_options(options, "folder", where)
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise MissingExtra("pillow", "image", "Reading a folder of images") from None
    if not path.is_dir():
        kind = file_kind(path) or ("a file" if path.is_file() else None)
        raise DataError(f"{path}: is {kind}, not a folder of images (suite key data.path)" if kind else f"{path}: image folder not found (suite key data.path)")
    mode = options.get("mode", "L")
    if mode not in ("L", "RGB"):
        raise DataError(f"{where}: data.options.mode: expected L (greyscale) or RGB; got {mode!r}")
    size = options.get("size")
    if size is not None and (not isinstance(size, list) or len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size)):
        raise DataError(f"{where}: data.options.size: expected [height, width] in pixels; got {size!r}")
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(f"{path}: expected one subfolder per class (at least two); found {len(class_dirs)}")
    images, labels, first_shape = [], [], None
    for class_dir in class_dirs:
        for file in sorted(f for f in class_dir.iterdir() if not f.name.startswith(".")):
            if file.suffix.lower() not in IMAGE_SUFFIXES or not file.is_file():
                raise DataError(f"{file}: not an image file; expected only PNG or JPEG files ({', '.join(IMAGE_SUFFIXES)}) in class folders")
            try:
                with Image.open(file) as img:
                    img = img.convert(mode)
                    if size is not None:
                        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                    pixels = np.asarray(img, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{file}: cannot read it as an image ({exc})") from None
            first_shape = first_shape or pixels.shape
            if pixels.shape != first_shape:
                raise DataError(f"{file}: image is {pixels.shape[1]}x{pixels.shape[0]} pixels but the first image was {first_shape[1]}x{first_shape[0]}; set data.options.size: [H, W] to resize")
            images.append(pixels)
            labels.append(class_dir.name)
    if not images:
        raise DataError(f"{path}: the class folders hold no images")
    X = _to_nchw(np.stack(images).astype(np.float32) / 255.0, str(path))
    return ImageArrays(X, np.asarray(labels), target=target or "label")


def _encode(labels: np.ndarray, where: str) -> tuple[tuple[str, ...], np.ndarray]:
    values = np.unique(labels)
    if len(values) < 2:
        raise DataError(f"{where}: the labels hold a single class ({values[0]!r}); need two or more")
    return tuple(str(v) for v in values.tolist()), np.searchsorted(values, labels).astype(np.int64)


def build_image_bundle(suite: Suite) -> DataBundle:
    """Load, check and split an image dataset as the suite declares it."""
    from audit.data.parts import part_digest, split_parts

    spec = suite.data
    where = str(suite.source or "<suite>")
    if spec.sensitive:
        raise DataError(f"{where}: data.sensitive: image datasets have no sensitive columns; audit per-class disparities with the class_disparity check")
    if spec.split.column is not None:
        raise DataError(f"{where}: data.split.column: image data has no columns; give train and test files (data.train, data.test) instead")
    parts_x: list[np.ndarray] = []
    parts_y: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    sources: list[str] = []
    if spec.builtin is not None:
        try:
            loaded = DATASETS.get(spec.builtin)(**spec.options)
        except TypeError as exc:
            raise DataError(f"{where}: data.options: not accepted by the '{spec.builtin}' loader ({exc})") from None
        if not isinstance(loaded, ImageArrays):
            raise DataError(f"{where}: data.builtin: '{spec.builtin}' is not an image dataset; set data.modality to match it")
        parts_x.append(loaded.X), parts_y.append(loaded.labels), parts.append(np.full(len(loaded.labels), "", dtype=object))
        sources.append(f"builtin:{spec.builtin}")
        default_target = loaded.target
    for part, file in spec.files().items():
        path = suite.resolve(file)
        key = f"data.{part}"
        fmt = spec.format or ("npz" if path.suffix.lower() == ".npz" else "folder" if path.is_dir() else None)
        if fmt not in ("npz", "folder"):
            raise DataError(f"{path}: image data must be an .npz archive or a folder of class subfolders (suite key {key}); set data.format to npz or folder")
        loaded = (load_npz if fmt == "npz" else load_folder)(path, spec.target, spec.options, where)
        parts_x.append(loaded.X), parts_y.append(loaded.labels), parts.append(np.full(len(loaded.labels), "" if part == "path" else part, dtype=object))
        sources.append(str(path) if part == "path" else f"{part}={path}")
        default_target = loaded.target
    shapes = {x.shape[1:] for x in parts_x}
    if len(shapes) > 1:
        raise DataError(f"{where}: data: the image files hold images of different shapes ({', '.join(str(tuple(s)) for s in sorted(shapes))}); every part must match")
    X = np.ascontiguousarray(np.concatenate(parts_x), dtype=np.float32)
    part = np.concatenate(parts)
    classes, y = _encode(np.concatenate(parts_y), where)
    target = spec.target or default_target
    source = ", ".join(sources)
    schema = Schema(
        target=target, classes=classes, features=(), numeric=(), categorical=(), modality="image",
        extra=(("image_shape", tuple(int(s) for s in X.shape[1:])), ("pixel_range", (0.0, 1.0))),
    )
    n = len(y)
    full = Dataset("all", X, y, pd.DataFrame(index=range(n)), np.arange(n))
    train_rows, test_rows, reference_rows = split_parts(part, y, spec, suite.seed, where)
    digest = hashlib.sha256(str(X.shape).encode() + X.tobytes() + y.tobytes())
    if (part != "").any():  # which file a row came from is part of the data
        digest.update(part_digest(part))
    frame = pd.DataFrame({target: [classes[c] for c in y]})
    return DataBundle(schema=schema, train=full.subset(train_rows, "train"), test=full.subset(test_rows, "test"),
                      frame=frame, source=source, data_hash=digest.hexdigest(),
                      reference=full.subset(reference_rows, "reference") if len(reference_rows) else None)
