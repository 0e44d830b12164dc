"""Image recipes and the PNG helpers: round trips, exact linear equivalence, known answers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from audit.data.tabular import build_bundle
from audit.modalities.image.png import encode_png, grid, heat_overlay, to_rgb, upscale
from audit.suite import parse_suite


@pytest.fixture(scope="module")
def bundle():  # noqa: ANN201
    suite = parse_suite({"version": 1, "name": "d", "data": {"modality": "image", "builtin": "digits"},
                         "models": [{"name": "cnn", "recipe": "digits_cnn"}], "checks": ["performance"]})
    return build_bundle(suite)


def test_cnn_trains_saves_and_loads_identically(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    from audit.models.cnn import DigitsCNNRecipe

    recipe = DigitsCNNRecipe(DigitsCNNRecipe.Params(epochs=3), seed=0)
    model = recipe.fit("cnn", bundle.train, bundle.schema)
    assert (model.modality, model.kind) == ("image", "cnn")
    proba = model.predict_proba(bundle.test.X)
    assert proba.shape == (540, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (proba.argmax(axis=1) == bundle.test.y).mean() > 0.8
    recipe.save(model, tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    again = recipe.load("cnn", tmp_path, bundle.schema)
    np.testing.assert_array_equal(again.predict_proba(bundle.test.X), proba)
    same_seed = DigitsCNNRecipe(DigitsCNNRecipe.Params(epochs=3), seed=0).fit("cnn", bundle.train, bundle.schema)
    np.testing.assert_array_equal(same_seed.predict_proba(bundle.test.X), proba)


def test_cnn_builds_for_mnist_sized_rgb_images() -> None:
    import torch

    from audit.models.cnn import build_cnn

    module = build_cnn((3, 28, 28), 7, [8, 16], 32)
    assert module(torch.zeros(2, 3, 28, 28)).shape == (2, 7)


def test_pixel_logreg_torch_module_equals_predict_proba_and_ig_is_exact(bundle, tmp_path: Path) -> None:  # noqa: ANN001
    import torch

    from audit.modalities.image.explain import ImageExplainParams, attributions
    from audit.models.image_baseline import PixelLogRegRecipe

    recipe = PixelLogRegRecipe(PixelLogRegRecipe.Params(), seed=0)
    model = recipe.fit("logreg", bundle.train, bundle.schema)
    X = bundle.test.X[:50]
    with torch.no_grad():
        torch_p = torch.softmax(model.torch_module(torch.from_numpy(X)), dim=1).double().numpy()
    np.testing.assert_allclose(torch_p, model.predict_proba(X), atol=1e-5)
    # Integrated Gradients of a linear logit from a zero baseline is exactly x * w_target
    y = bundle.test.y[:50]
    attr, delta = attributions(model, X, y, "ig", ImageExplainParams())
    w = model.estimator.coef_.reshape(10, 1, 8, 8)
    np.testing.assert_allclose(attr, X * w[y], atol=1e-5)
    assert np.abs(delta).max() < 1e-4
    recipe.save(model, tmp_path)
    np.testing.assert_array_equal(recipe.load("logreg", tmp_path, bundle.schema).predict_proba(X), model.predict_proba(X))


def test_png_encoder_round_trips_through_pillow() -> None:
    image = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    decoded = np.asarray(image.open(io.BytesIO(encode_png(rgb))).convert("RGB"))
    np.testing.assert_array_equal(decoded, rgb)


def test_png_helpers_known_answers() -> None:
    digit = np.zeros((1, 8, 8))
    digit[0, 2, 3] = 1.0
    rgb = to_rgb(digit)
    assert rgb.shape == (8, 8, 3) and rgb[2, 3].tolist() == [255, 255, 255] and rgb[0, 0].tolist() == [0, 0, 0]
    big = upscale(rgb)
    assert big.shape == (64, 64, 3) and (big[16:24, 24:32] == 255).all()
    overlay = heat_overlay(digit, np.where(digit > 0, 1.0, 0.0) - 0.5 * (np.arange(64).reshape(1, 8, 8) == 0))
    assert overlay[2, 3, 0] > overlay[2, 3, 2] and overlay[0, 0, 2] > overlay[0, 0, 0]  # red positive, blue negative
    sheet = grid([[rgb, rgb], [rgb, None]], [[(0, 158, 115), None], [None, None]], pad=4)
    assert sheet.shape == (4 + 2 * 68, 4 + 2 * 68, 3)
    assert sheet[2, 2].tolist() == [0, 158, 115] and sheet[-2, -2].tolist() == [255, 255, 255]
