"""Image loaders: built-in digits, .npz archives and class folders; errors name file and expectation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.data.tabular import build_bundle
from audit.errors import DataError
from audit.modalities.image.png import encode_png
from audit.suite import parse_suite


def _suite(data: dict) -> object:
    return parse_suite({"version": 1, "name": "img", "seed": 0, "data": {"modality": "image", **data},
                        "models": [{"name": "cnn", "recipe": "digits_cnn"}], "checks": ["performance"]})


def test_builtin_digits() -> None:
    bundle = build_bundle(_suite({"builtin": "digits"}))
    schema = bundle.schema
    assert schema.modality == "image" and schema.features == () and schema.sensitive == ()
    assert schema.classes == tuple(str(d) for d in range(10))
    assert schema.info("image_shape") == (1, 8, 8)
    assert (len(bundle.train), len(bundle.test)) == (1257, 540)
    assert bundle.test.X.shape == (540, 1, 8, 8) and bundle.test.X.dtype == np.float32
    assert bundle.train.X.min() == 0.0 and bundle.train.X.max() == 1.0
    totals = np.bincount(bundle.train.y) + np.bincount(bundle.test.y)
    assert np.abs(np.bincount(bundle.test.y) - 0.3 * totals).max() <= 1  # stratified
    assert bundle.test.sensitive.shape == (540, 0)
    from sklearn.datasets import load_digits

    raw = load_digits()
    first = bundle.train.ids[0]
    np.testing.assert_allclose(bundle.train.X[0, 0], raw.images[first] / 16.0, rtol=1e-6)
    assert bundle.train.y[0] == raw.target[first]


def test_npz_known_answer(tmp_path: Path) -> None:
    x = np.arange(20 * 4 * 4, dtype=np.uint8).reshape(20, 4, 4)
    y = np.array([7, 3] * 10)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    bundle = build_bundle(_suite({"path": str(tmp_path / "d.npz"), "target": "y", "split": {"test_size": 0.5}}))
    assert bundle.schema.classes == ("3", "7")
    assert bundle.schema.info("image_shape") == (1, 4, 4)
    rows = bundle.train.ids
    np.testing.assert_allclose(bundle.train.X[:, 0], x[rows] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(bundle.train.y, (y[rows] == 7).astype(int))
    assert len(bundle.train) == len(bundle.test) == 10


def test_npz_alternative_keys_and_channels_last(tmp_path: Path) -> None:
    images = np.random.default_rng(0).random((12, 5, 6, 3)).astype(np.float32)  # already in [0, 1]
    np.savez(tmp_path / "rgb.npz", images=images, labels=np.array(["cat", "dog", "eel"] * 4))
    bundle = build_bundle(_suite({"path": str(tmp_path / "rgb.npz"), "target": "animal", "split": {"test_size": 0.5}}))
    assert bundle.schema.classes == ("cat", "dog", "eel") and bundle.schema.target == "animal"
    assert bundle.schema.info("image_shape") == (3, 5, 6)
    np.testing.assert_allclose(bundle.train.X[0], np.moveaxis(images[bundle.train.ids[0]], -1, 0))


@pytest.mark.parametrize(("arrays", "message"), [
    ({"pixels": np.zeros((4, 2, 2)), "y": np.array([0, 1, 0, 1])},
     "no images array in the archive; expected one of the keys x, images; found pixels, y"),
    ({"x": np.zeros((4, 2, 2)), "target": np.array([0, 1, 0, 1])},
     "no labels array in the archive; expected one of the keys y, labels; found target, x"),
    ({"x": np.zeros((4, 6)), "y": np.array([0, 1, 0, 1])},
     "images have shape (4, 6); expected (n, H, W), (n, C, H, W) or (n, H, W, C) with C 1 or 3"),
    ({"x": np.zeros((4, 2, 2)), "y": np.array([0, 1, 0])},
     "labels 'y' have shape (3,); expected one label per image (4,)"),
    ({"x": -np.ones((4, 2, 2)), "y": np.array([0, 1, 0, 1])},
     "pixel values fall outside [0, 1]; set data.options.scale to the maximum pixel value"),
])
def test_npz_bad_inputs(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as err:
        build_bundle(_suite({"path": str(path), "target": "label"}))
    assert str(err.value) == f"{path}: {message}"


def test_npz_that_is_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "fake.npz"
    path.write_text("not numpy")
    with pytest.raises(DataError, match=r"fake\.npz: cannot read it as an \.npz archive"):
        build_bundle(_suite({"path": str(path), "target": "label"}))


def _folder(root: Path, sizes: dict[str, list[tuple[int, int]]]) -> Path:
    rng = np.random.default_rng(1)
    for label, shapes in sizes.items():
        (root / label).mkdir(parents=True)
        for i, (h, w) in enumerate(shapes):
            (root / label / f"{i}.png").write_bytes(encode_png(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
    return root


def test_folder_of_pngs(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    root = _folder(tmp_path / "imgs", {"a": [(6, 5)] * 4, "b": [(6, 5)] * 4})
    bundle = build_bundle(_suite({"path": str(root), "target": "letter", "split": {"test_size": 0.5}}))
    assert bundle.schema.classes == ("a", "b") and bundle.schema.info("image_shape") == (1, 6, 5)
    assert bundle.train.X.min() >= 0.0 and bundle.train.X.max() <= 1.0
    rgb = build_bundle(_suite({"path": str(root), "target": "letter", "options": {"mode": "RGB", "size": [3, 3]}, "split": {"test_size": 0.5}}))
    assert rgb.schema.info("image_shape") == (3, 3, 3)


def test_folder_errors_name_the_file(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    root = _folder(tmp_path / "imgs", {"a": [(6, 5)] * 2, "b": [(6, 5), (4, 4)]})
    with pytest.raises(DataError) as err:
        build_bundle(_suite({"path": str(root), "target": "letter"}))
    assert str(err.value) == f"{root / 'b' / '1.png'}: image is 4x4 pixels but the first image was 5x6; set data.options.size: [H, W] to resize"
    (root / "b" / "1.png").unlink()
    (root / "a" / "notes.txt").write_text("hello")
    with pytest.raises(DataError) as err:
        build_bundle(_suite({"path": str(root), "target": "letter"}))
    assert str(err.value) == f"{root / 'a' / 'notes.txt'}: not an image file; expected only PNG or JPEG files (.png, .jpg, .jpeg) in class folders"
    (root / "a" / "notes.txt").unlink()
    (root / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken\.png: cannot read it as an image"):
        build_bundle(_suite({"path": str(root), "target": "letter"}))


def test_sensitive_columns_are_refused_and_tabular_modality_is_advised() -> None:
    with pytest.raises(DataError, match="image datasets have no sensitive columns; audit per-class disparities with the class_disparity check"):
        build_bundle(_suite({"builtin": "digits", "sensitive": ["x"]}))
    suite = parse_suite({"version": 1, "name": "img", "data": {"builtin": "digits"}, "models": [{"name": "m", "recipe": "logistic_regression"}], "checks": ["performance"]})
    with pytest.raises(DataError, match="this built-in dataset holds images; set data.modality: image in the suite"):
        build_bundle(suite)
