"""The London-only trainer's small regularised learners (ridge, PLS, elastic net, RBF
kernel ridge).

Why these: 102 faces support only a few effective parameters, so every learner chooses
its own regularisation inside the training fold (closed form or a fixed-seed inner CV),
which keeps the outer cross-validation honest and the fit deterministic.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

INNER_SEED = 0


@dataclass
class Model:
    """A fitted head, as both trainers hold it and the app's file describes it:
    linear (coef), RBF kernel (support, dual, gamma) or a ReLU MLP (layers)."""

    kind: str  # linear | rbf | mlp
    intercept: float
    params: dict[str, Any] = field(default_factory=dict)
    coef: np.ndarray | None = None
    gamma: float | None = None
    dual: np.ndarray | None = None
    support: np.ndarray | None = None
    layers: list[tuple[np.ndarray, np.ndarray]] | None = None

    def predict(self, z: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return z @ self.coef + self.intercept
        if self.kind == "rbf":
            d2 = ((z[:, None, :] - self.support[None, :, :]) ** 2).sum(axis=2)
            return np.exp(-self.gamma * d2) @ self.dual + self.intercept
        h = z
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0] + self.intercept


def _inner_folds(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold

    return list(KFold(5, shuffle=True, random_state=INNER_SEED).split(np.arange(n)))


def fit_ridge(z: np.ndarray, y: np.ndarray) -> Model:
    """Ridge with alpha chosen by efficient leave-one-out on the training faces."""
    from sklearn.linear_model import RidgeCV

    m = RidgeCV(alphas=np.logspace(-1, 4, 26)).fit(z, y)
    return Model("linear", float(m.intercept_), coef=np.asarray(m.coef_, dtype=np.float64),
                  params={"alpha": float(m.alpha_)})


def pls1(z: np.ndarray, y: np.ndarray, k_max: int) -> list[tuple[np.ndarray, float]]:
    """PLS1 (NIPALS, one response): (coef, intercept) for 1..k_max components.
    Equals scikit-learn's PLSRegression(scale=False) on standardised inputs."""
    xm, ym = z.mean(axis=0), float(y.mean())
    x, r = z - xm, y - ym
    ws, ps, qs, out = [], [], [], []
    for _ in range(min(k_max, x.shape[1], x.shape[0] - 1)):
        w = x.T @ r
        nw = np.linalg.norm(w)
        if nw < 1e-12:
            break
        w /= nw
        t = x @ w
        tt = float(t @ t)
        if tt < 1e-12:
            break
        p = x.T @ t / tt
        q = float(r @ t) / tt
        x = x - np.outer(t, p)
        r = r - q * t
        ws.append(w)
        ps.append(p)
        qs.append(q)
        W, P, Q = np.array(ws).T, np.array(ps).T, np.array(qs)
        coef = W @ np.linalg.solve(P.T @ W, Q)
        out.append((coef, ym - float(xm @ coef)))
    return out


def fit_pls(z: np.ndarray, y: np.ndarray, k_max: int = 10) -> Model:
    """PLS regression, number of components by inner 5-fold CV (fixed seed)."""
    errs = np.zeros(k_max)
    counts = np.zeros(k_max)
    for tr, te in _inner_folds(len(y)):
        for k, (coef, b) in enumerate(pls1(z[tr], y[tr], k_max)):
            errs[k] += float(((z[te] @ coef + b - y[te]) ** 2).sum())
            counts[k] += 1
    valid = counts == counts.max()
    best = int(np.argmin(np.where(valid, errs, np.inf)))
    coef, b = pls1(z, y, best + 1)[best]
    return Model("linear", b, coef=coef, params={"n_components": best + 1})


def fit_enet(z: np.ndarray, y: np.ndarray) -> Model:
    """Elastic net, alpha and l1 ratio by inner 5-fold CV (fixed seed)."""
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ElasticNetCV(l1_ratio=[0.1, 0.5, 0.9], alphas=20, max_iter=5000,
                         cv=KFold(5, shuffle=True, random_state=INNER_SEED)).fit(z, y)
    return Model("linear", float(m.intercept_), coef=np.asarray(m.coef_, dtype=np.float64),
                  params={"alpha": float(m.alpha_), "l1_ratio": float(m.l1_ratio_)})


def fit_kernel_ridge(z: np.ndarray, y: np.ndarray) -> Model:
    """RBF kernel ridge on centred ratings; gamma and alpha by exact leave-one-out."""
    p = z.shape[1]
    ym = float(y.mean())
    yc = y - ym
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=2)
    best = (math.inf, 0.0, 0.0)
    for g in (0.25 / p, 0.5 / p, 1.0 / p, 2.0 / p):
        evals, evecs = np.linalg.eigh(np.exp(-g * d2))
        proj = evecs.T @ yc
        for a in np.logspace(-2, 2, 9):
            shrink = evals / (evals + a)
            fitted = evecs @ (shrink * proj)
            hat = (evecs ** 2) @ shrink
            loo = (yc - fitted) / np.maximum(1.0 - hat, 1e-6)
            err = float(np.mean(loo ** 2))
            if err < best[0]:
                best = (err, g, float(a))
    _, g, a = best
    k = np.exp(-g * d2)
    dual = np.linalg.solve(k + a * np.eye(len(y)), yc)
    return Model("rbf", ym, gamma=g, dual=dual, support=z.copy(),
                  params={"gamma": g, "alpha": a})


# In order of simplicity: the one-standard-error rule picks the first learner whose
# mean r is within one SD (over the CV repeats) of the best one.
LEARNERS: dict[str, Callable[[np.ndarray, np.ndarray], Model]] = {
    "ridge": fit_ridge,
    "pls": fit_pls,
    "elastic_net": fit_enet,
    "kernel_ridge": fit_kernel_ridge,
}
LEARNER_TEXT = {
    "ridge": "ridge regression, alpha by leave-one-out inside the training fold",
    "pls": "partial least squares (PLS1), components by 5-fold CV inside the training fold",
    "elastic_net": "elastic net, alpha and l1 ratio by 5-fold CV inside the training fold",
    "kernel_ridge": "RBF kernel ridge, gamma and alpha by leave-one-out inside the "
                    "training fold",
}
