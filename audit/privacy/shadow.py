"""Shadow-model attacks: Shokri et al. (2017) and offline LiRA (Carlini et al. 2022).

Shadows are the audited model's own recipe retrained on random halves of the train rows. The
halves follow Carlini et al.'s design: every train row is IN exactly half of the shadows (an odd
count gives each row a random extra IN), so each row has IN and OUT shadows.

* :func:`shokri_attack`: a logistic regression learns "IN vs OUT" from the shadows' outputs on
  the train rows (features of the predicted probabilities, see :func:`attack_features`) and
  scores the audited model's outputs.
* :func:`lira_offline`: the shadows only ever train on train rows, so a non-member (test row)
  has no IN shadow; the *offline* LiRA needs none. Per row, a Gaussian is fitted to the OUT
  shadows' logit confidence phi with one global (pooled) variance, as Carlini et al. advise
  below 64 shadows, and the score is the one-sided log-likelihood that the audited model's phi
  is this high: log Phi((phi - mu_out) / sigma_out). Non-members get a virtual IN/OUT pattern
  of the same design and only their virtual OUT shadows count, so members and non-members are
  scored from equally many shadows.
"""

from __future__ import annotations

import numpy as np

from audit.privacy.membership import logit_confidence, loss_score


def keep_matrix(rng: np.random.Generator, n_shadows: int, n_rows: int) -> np.ndarray:
    """(n_shadows, n_rows) bool: True where a row is in a shadow's training half."""
    ranks = rng.random((n_shadows, n_rows)).argsort(axis=0).argsort(axis=0)
    k = n_shadows // 2 + (n_shadows % 2) * rng.integers(0, 2, size=n_rows)
    return ranks < k


def attack_features(proba: np.ndarray, y: np.ndarray, top_k: int = 3) -> np.ndarray:
    """Per row: the top-k sorted probabilities, log p(true class) and phi (logit confidence)."""
    proba = np.asarray(proba, dtype=np.float64)
    k = min(top_k, proba.shape[1])
    top = -np.sort(-proba, axis=1)[:, :k]
    return np.column_stack([top, loss_score(proba, y), logit_confidence(proba, y)])


def shokri_attack(shadow_features: np.ndarray, shadow_in: np.ndarray, target_features: np.ndarray, seed: int) -> np.ndarray:
    """Membership scores of ``target_features`` from an attack model fitted on the shadows' rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(shadow_in)) < 2:
        raise ValueError("the shadow rows are all IN or all OUT; the attack model cannot learn")
    attack = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    attack.fit(shadow_features, shadow_in.astype(int))
    return attack.decision_function(target_features)


def lira_offline(target_phi: np.ndarray, shadow_phi: np.ndarray, shadow_out: np.ndarray) -> np.ndarray:
    """Offline LiRA scores; ``shadow_phi`` and ``shadow_out`` are (n_shadows, n_rows)."""
    from scipy.stats import norm

    out = shadow_out.astype(np.float64)
    count = out.sum(axis=0)
    if np.any(count < 1):
        raise ValueError("every row needs at least one OUT shadow")
    mu = (shadow_phi * out).sum(axis=0) / count
    dof = max(float(out.sum() - shadow_phi.shape[1]), 1.0)
    sigma = float(np.sqrt((((shadow_phi - mu) ** 2) * out).sum() / dof))
    sigma = max(sigma, 1e-6)
    return norm.logcdf((np.asarray(target_phi, dtype=np.float64) - mu) / sigma)
