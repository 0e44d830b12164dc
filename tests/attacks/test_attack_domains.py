"""Every adversarial input is a valid input: the domains' constraints, and integer rounding's known answer."""

from __future__ import annotations

import numpy as np
import pytest

from audit.attacks.blackbox import blackbox_attack
from audit.attacks.domain import Domain, TabularDomain, as_domain
from audit.attacks.gradient import fgsm, pgd

torch = pytest.importorskip("torch")


# --- tabular: months and amount are whole numbers, rate is continuous, age is immutable, then a one-hot ---

def raw_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    months = rng.integers(4, 73, n)
    amount = rng.integers(250, 18_001, n)
    rate = rng.uniform(0.5, 4.0, n)
    age = rng.integers(19, 76, n)
    return np.column_stack([months, amount, rate, age]).astype(np.float64)


def encode(raw: np.ndarray, mu: np.ndarray, sd: np.ndarray, category: np.ndarray) -> np.ndarray:
    onehot = np.eye(3)[category]
    return np.column_stack([(raw - mu) / sd, onehot]).astype(np.float32)


@pytest.fixture(scope="module")
def credit_like():
    rng = np.random.default_rng(0)
    train = raw_rows(400, rng)
    mu, sd = train.mean(axis=0), train.std(axis=0)
    Z_train = encode(train, mu, sd, rng.integers(0, 3, 400))
    test = raw_rows(120, rng)
    test[0, 0], test[1, 1], test[2, 0] = 80, 100, 2  # clean values outside the training range
    Z = encode(test, mu, sd, rng.integers(0, 3, 120))
    mask = np.array([1, 1, 1, 0, 0, 0, 0], dtype=bool)
    domain, notes = TabularDomain.from_training(Z_train, {0: train[:, 0], 1: train[:, 1], 2: train[:, 2]}, mask)
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(7, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).eval()
    with torch.no_grad():
        y = (module(torch.as_tensor(Z)).reshape(-1) > 0).long().numpy()  # every row starts correct
    return {"train": train, "mu": mu, "sd": sd, "Z": Z, "test": test, "mask": mask, "domain": domain, "notes": notes,
            "module": module, "y": y}


def test_from_training_finds_integer_columns_and_their_encoding(credit_like):
    domain, mu, sd = credit_like["domain"], credit_like["mu"], credit_like["sd"]
    assert credit_like["notes"] == []
    np.testing.assert_array_equal(domain.integer, [True, True, False, False, False, False, False])
    np.testing.assert_allclose(domain.scale[:2], 1 / sd[:2], rtol=1e-5)
    np.testing.assert_allclose(domain.offset[:2], -mu[:2] / sd[:2], rtol=1e-4)
    train = credit_like["train"]
    np.testing.assert_allclose(domain.lower[:3], ((train.min(axis=0) - mu) / sd)[:3], rtol=1e-5)
    assert np.isinf(domain.lower[3:]).all() and domain.discrete


def proba_of(module):
    def proba(Z):
        with torch.no_grad():
            p = torch.sigmoid(module(torch.as_tensor(np.asarray(Z, dtype=np.float32))).reshape(-1)).double().numpy()
        return np.column_stack([1 - p, p])

    return proba


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "blackbox"])
def test_adversarial_rows_keep_immutable_columns_training_ranges_and_whole_numbers(credit_like, attack):
    c = credit_like
    Z, y, domain, module = c["Z"], c["y"], c["domain"], c["module"]
    lo = np.minimum(c["train"].min(axis=0), c["test"])[:, :3]  # the training range, widened to the clean value
    hi = np.maximum(c["train"].max(axis=0), c["test"])[:, :3]
    at_bound = broken = 0
    for eps in (0.1, 0.5, 2.0, 5.0):
        if attack == "fgsm":
            adv = fgsm(module, Z, y, eps, domain)
        elif attack == "pgd":
            adv = pgd(module, Z, y, eps, domain, steps=10, restarts=2, seed=1)
        else:
            adv = blackbox_attack(proba_of(module), Z, y, eps, c["mask"], np.random.default_rng(0), domain=domain).Z
        assert np.array_equal(adv[:, 3:], Z[:, 3:])  # age and the one-hot, bit for bit
        assert np.abs(adv - Z).max() <= eps * (1 + 1e-6) + 1e-6
        original = adv[:, :3].astype(np.float64) * c["sd"][:3] + c["mu"][:3]
        assert (original >= lo - 1e-2).all() and (original <= hi + 1e-2).all()
        np.testing.assert_allclose(original[:, :2], np.round(original[:, :2]), atol=1e-2)  # months, amount
        assert domain.violations(adv, Z, eps) == []
        at_bound += int((np.abs(original - lo) < 1e-2).sum() + (np.abs(original - hi) < 1e-2).sum())
        broken += int((proba_of(module)(adv).argmax(axis=1) != y).sum())
    assert at_bound > 0 and broken > 0  # the box binds and the attack works: the test has teeth


def test_rounding_gives_the_known_answer_on_a_whole_number_feature():
    """Linear in months, boundary at 20.5 months: a row flips at budget u months iff a whole number
    of months within u of it (and within the training range) lies across the boundary."""
    rng = np.random.default_rng(3)
    train = rng.integers(4, 61, 300).astype(np.float64)
    mu, sd = train.mean(), train.std()
    months = rng.integers(4, 61, 200).astype(np.float64)
    Z = np.column_stack([(months - mu) / sd, np.ones(200)]).astype(np.float32)
    Z_train = np.column_stack([(train - mu) / sd, np.ones(300)]).astype(np.float32)
    domain, _ = TabularDomain.from_training(Z_train, {0: train}, np.array([True, False]))
    w = 2.0
    module = torch.nn.Linear(2, 1)
    with torch.no_grad():
        module.weight[:] = torch.tensor([[w, 0.0]])
        module.bias[:] = -w * (20.5 - mu) / sd  # logit 0 at 20.5 months, never a whole number
    y = (months > 20.5).astype(int)
    proba = proba_of(module)
    continuous_extra = 0
    for u in (0.7, 1.3, 2.6, 5.5):  # budgets in months that never land on a whole number
        eps = u / sd
        lo, hi = np.maximum(np.minimum(train.min(), months), months - u), np.minimum(np.maximum(train.max(), months), months + u)
        # class 1 (above 20.5) flips iff the smallest feasible whole number is below it; class 0 the largest above
        expected = np.where(y == 1, np.ceil(lo) < 20.5, np.floor(hi) > 20.5)
        for adv in (fgsm(module, Z, y, eps, domain), pgd(module, Z, y, eps, domain, steps=10, seed=0),
                    blackbox_attack(proba, Z, y, eps, domain.mask, np.random.default_rng(0), domain=domain).Z):
            broken = proba(adv).argmax(axis=1) != y
            np.testing.assert_array_equal(broken, expected, err_msg=f"budget {u} months")
        continuous = proba(fgsm(module, Z, y, eps, TabularDomain(domain.mask))).argmax(axis=1) != y
        assert (continuous >= expected).all()
        continuous_extra += int((continuous & ~expected).sum())
    assert continuous_extra > 0  # without rounding, fractions of a month flip rows that whole months cannot


# --- images and the generic domain -----------------------------------------------------------

def test_image_attacks_stay_in_the_unit_box_and_the_ball():
    rng = np.random.default_rng(0)
    X = (rng.random((60, 1, 6, 6)) > 0.5).astype(np.float32)  # pixels at exactly 0 and 1: the box binds
    X[:10] = 0.5
    y = rng.integers(0, 3, 60)
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 3)).eval()
    domain = Domain(lower=0.0, upper=1.0)
    for eps in (0.05, 0.3, 1.0):
        for adv in (fgsm(module, X, y, eps, domain), pgd(module, X, y, eps, domain, steps=5, seed=0)):
            assert adv.shape == X.shape and adv.dtype == np.float32
            assert adv.min() >= 0.0 and adv.max() <= 1.0
            assert np.abs(adv - X).max() <= eps + 1e-6
            assert domain.violations(adv, X, eps) == []
    start = domain.random_start(torch.as_tensor(X), 0.3, torch.Generator().manual_seed(0)).numpy()
    assert start.min() >= 0 and start.max() <= 1 and np.abs(start - X).max() <= 0.3 + 1e-6
    assert np.abs(start - X)[:10].max() > 0.2  # uniform in the ball where the box leaves room


def test_project_clamps_to_ball_mask_and_a_box_widened_to_the_clean_value():
    domain = Domain(mask=np.array([True, True, False]), lower=0.0, upper=1.0)
    x0 = torch.tensor([[0.5, 1.2, 0.3]])  # 1.2: a clean value above the box stays valid
    x = torch.tensor([[0.9, 1.5, 0.9]])
    np.testing.assert_allclose(domain.project(x, x0, 0.2).numpy(), [[0.7, 1.2, 0.3]], atol=1e-7)
    np.testing.assert_allclose(domain.project(torch.tensor([[0.1, 0.9, 0.0]]), x0, 0.2).numpy(), [[0.3, 1.0, 0.3]], atol=1e-7)
    rows = np.array([[0.7, 1.2, 0.3], [0.7, 1.2, 0.31], [0.8, 1.2, 0.3], [0.5, 1.3, 0.3]], dtype=np.float32)
    assert domain.violations(rows[:1], x0.numpy(), 0.2) == []
    assert domain.violations(rows[1:2], x0.numpy(), 0.2) == ["changed a frozen entry"]
    assert domain.violations(rows[2:3], x0.numpy(), 0.2)[0].startswith("left the eps=0.2 ball")
    assert domain.violations(rows[3:], x0.numpy(), 0.2) == ["went above the upper bound"]
    assert as_domain(np.array([1, 0])).mask.tolist() == [True, False] and as_domain(None).mask is None


def test_a_non_affine_encoding_is_not_rounded_and_says_so():
    raw = np.arange(1, 51, dtype=np.float64)
    Z = np.log(raw)[:, None]  # not a standardiser
    domain, notes = TabularDomain.from_training(Z, {0: raw}, np.array([True]))
    assert not domain.integer[0] and notes == ["encoded column 0 is not an affine function of its feature; it is not rounded"]


def test_a_domain_read_from_a_sample_keeps_the_bounds_of_every_training_row():
    """Beyond DOMAIN_ROWS the encoder runs on a seeded sample plus each numeric feature's extreme
    rows; for a standardiser (monotone in each feature) the bounds, the rounding and its affine
    map equal those read from every row, and the planted extremes are not lost to the sample."""
    from sklearn.preprocessing import StandardScaler

    from audit.checks.robustness import DOMAIN_ROWS, domain_rows

    rng = np.random.default_rng(0)
    n = DOMAIN_ROWS * 3
    X = np.column_stack([rng.integers(18, 76, n).astype(float), rng.lognormal(8, 1, n), rng.normal(0, 1, n)])
    X[rng.integers(n), 0] = 99.0  # a single oldest applicant
    X[rng.integers(n), 1] = 1e7  # a single largest amount
    X[rng.choice(n, 50, replace=False), 2] = np.nan  # missing values (imputed to 0 before scaling)
    Z = StandardScaler().fit_transform(np.nan_to_num(X))
    mask = np.ones(3, dtype=bool)
    values = {f"x{j}": X[:, j] for j in range(3)}
    rows = domain_rows(values, n, np.random.default_rng(1))
    assert rows is not None and DOMAIN_ROWS < len(rows) <= DOMAIN_ROWS + 6
    full, _ = TabularDomain.from_training(Z, dict(enumerate(X.T)), mask)
    part, _ = TabularDomain.from_training(Z[rows], {j: X[rows, j] for j in range(3)}, mask)
    np.testing.assert_array_equal(part.lower, full.lower)
    np.testing.assert_array_equal(part.upper, full.upper)
    np.testing.assert_array_equal(part.integer, full.integer)
    np.testing.assert_allclose(part.scale, full.scale, rtol=1e-9)
    np.testing.assert_allclose(part.offset, full.offset, rtol=1e-9, atol=1e-9)
    assert domain_rows(values, DOMAIN_ROWS, np.random.default_rng(1)) is None  # small tables: every row
