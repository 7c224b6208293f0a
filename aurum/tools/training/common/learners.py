"""Every learner both trainers fit, the model they produce, and which trainer compares
which.

Used by `london.validation` and `london.train` (`LONDON_LEARNERS`: ridge, PLS, elastic
net, RBF kernel ridge) and by `multiset.cv` and `multiset.card` (`MULTISET_LEARNERS`:
weighted ridge, weighted RBF kernel ridge, a small MLP head, with `weights`).

Why these: 102 London faces support only a few effective parameters, so every learner
chooses its own regularisation inside the training fold (closed form or a fixed-seed
inner CV), which keeps the outer cross-validation honest and the fit deterministic.
Why weighted: 1,727 MEBeauty photos would otherwise drown London's 102 faces, so a
several-set candidate may give every set the same total weight; ridge and kernel ridge
take the weights (none: every photo weighs 1) and are one function each for both
trainers, each trainer with its own search grid.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

INNER_SEED = 0
# Search grids: the several-set trainer's (its own, chosen when it was written) and the
# London-only trainer's (wider, for 102 faces).
RIDGE_ALPHAS = np.logspace(0, 4, 17)
LONDON_RIDGE_ALPHAS = np.logspace(-1, 4, 26)
# kernel ridge: gamma as multiples of 1 / (number of features), and alpha
KERNEL_GAMMAS = (0.25, 0.5, 1.0)
KERNEL_ALPHAS = np.logspace(-1, 2, 7)
LONDON_KERNEL_GAMMAS = (0.25, 0.5, 1.0, 2.0)
LONDON_KERNEL_ALPHAS = np.logspace(-2, 2, 9)


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


def _weights(y: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, float]:
    """The photo weights (all 1 when none are given) and the weighted mean rating."""
    w = np.ones(len(y)) if w is None else w
    return w, float(np.sum(w * y) / np.sum(w))


def fit_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None,
              alphas: np.ndarray = RIDGE_ALPHAS) -> Model:
    """Weighted ridge, alpha by exact (weighted) leave-one-out from one SVD; the
    intercept is not penalised."""
    w, ym = _weights(y, w)
    zm = (w[:, None] * z).sum(axis=0) / np.sum(w)
    sw = np.sqrt(w)
    zc, yc = sw[:, None] * (z - zm), sw * (y - ym)
    u, s, vt = np.linalg.svd(zc, full_matrices=False)
    uty = u.T @ yc
    best = (math.inf, 0.0)
    for a in alphas:
        f = s ** 2 / (s ** 2 + a)
        fitted = u @ (f * uty)
        hat = (u ** 2) @ f + w / np.sum(w)
        err = float(np.mean(((yc - fitted) / (1.0 - hat)) ** 2))
        if err < best[0] - 1e-12:
            best = (err, float(a))
    a = best[1]
    coef = vt.T @ (s / (s ** 2 + a) * uty)
    return Model("linear", ym - float(zm @ coef), {"alpha": a}, coef=coef)


def _inner_folds(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold

    return list(KFold(5, shuffle=True, random_state=INNER_SEED).split(np.arange(n)))


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


def fit_kernel_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None,
                     gammas: tuple[float, ...] = KERNEL_GAMMAS,
                     alphas: np.ndarray = KERNEL_ALPHAS) -> Model:
    """Weighted RBF kernel ridge on centred ratings; gamma (`gammas` / features) and
    alpha by exact (weighted) leave-one-out."""
    w, ym = _weights(y, w)
    p = z.shape[1]
    sw = np.sqrt(w)
    yt = sw * (y - ym)
    g2 = (z * z).sum(1)
    d2 = np.maximum(g2[:, None] + g2[None, :] - 2 * z @ z.T, 0.0)
    best = (math.inf, 0.0, 0.0)
    for g in (m / p for m in gammas):
        evals, evecs = np.linalg.eigh(sw[:, None] * np.exp(-g * d2) * sw[None, :])
        proj = evecs.T @ yt
        for a in alphas:
            shrink = evals / (evals + a)
            fitted = evecs @ (shrink * proj)
            hat = (evecs ** 2) @ shrink
            err = float(np.mean(((yt - fitted) / np.maximum(1.0 - hat, 1e-6)) ** 2))
            if err < best[0] - 1e-12:
                best = (err, g, float(a))
    _, g, a = best
    kt = sw[:, None] * np.exp(-g * d2) * sw[None, :]
    dual = sw * np.linalg.solve(kt + a * np.eye(len(y)), yt)
    return Model("rbf", ym, {"gamma": g, "alpha": a}, gamma=g, dual=dual, support=z.copy())


MLP_SHAPE = (256, 64)  # FaceStats' 512-256-64-1 head, with 128 inputs
MLP_EPOCHS = 300
MLP_LR = 1e-3
MLP_WD = 0.05
MLP_DROPOUT = 0.3
MLP_SEED = 0


def fit_mlp(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Model:
    """A 128-256-64-1 ReLU head (FaceStats' shape for 128 inputs): full-batch AdamW with
    weight decay and dropout, a fixed number of epochs, one thread, torch's deterministic
    algorithms and a fixed seed, so a rerun gives the same weights."""
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(MLP_SEED)
    w, ym = _weights(y, w)
    xs = torch.tensor(z, dtype=torch.float32)
    ys = torch.tensor(y - ym, dtype=torch.float32)
    ws = torch.tensor(w / w.mean(), dtype=torch.float32)
    sizes = [z.shape[1], *MLP_SHAPE, 1]
    mods: list[Any] = []
    for i in range(len(sizes) - 1):
        mods.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            mods += [torch.nn.ReLU(), torch.nn.Dropout(MLP_DROPOUT)]
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.AdamW(net.parameters(), lr=MLP_LR, weight_decay=MLP_WD)
    net.train()
    for _ in range(MLP_EPOCHS):
        opt.zero_grad()
        loss = torch.mean(ws * (net(xs)[:, 0] - ys) ** 2)
        loss.backward()
        opt.step()
    net.eval()
    layers = [(m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy())
              for m in net if isinstance(m, torch.nn.Linear)]
    return Model("mlp", ym, {"shape": sizes, "epochs": MLP_EPOCHS, "lr": MLP_LR,
                             "weight_decay": MLP_WD, "dropout": MLP_DROPOUT}, layers=layers)


# The London-only trainer's learners, in order of simplicity: the one-standard-error
# rule picks the first learner whose mean r is within one SD (over the CV repeats) of
# the best one.
LONDON_LEARNERS: dict[str, Callable[..., Model]] = {
    "ridge": partial(fit_ridge, alphas=LONDON_RIDGE_ALPHAS),
    "pls": fit_pls,
    "elastic_net": fit_enet,
    "kernel_ridge": partial(fit_kernel_ridge, gammas=LONDON_KERNEL_GAMMAS,
                            alphas=LONDON_KERNEL_ALPHAS),
}
LONDON_LEARNER_TEXT = {
    "ridge": "ridge regression, alpha by leave-one-out inside the training fold",
    "pls": "partial least squares (PLS1), components by 5-fold CV inside the training fold",
    "elastic_net": "elastic net, alpha and l1 ratio by 5-fold CV inside the training fold",
    "kernel_ridge": "RBF kernel ridge, gamma and alpha by leave-one-out inside the "
                    "training fold",
}
# The several-set trainer's learners; each takes the photos' loss weights.
MULTISET_LEARNERS: dict[str, Callable[..., Model]] = {
    "ridge": fit_ridge, "kernel_ridge": fit_kernel_ridge, "mlp": fit_mlp}
MULTISET_LEARNER_TEXT = {
    "ridge": "ridge regression, alpha by exact leave-one-out inside the training fold",
    "kernel_ridge": "RBF kernel ridge, gamma and alpha by exact leave-one-out inside the "
                    "training fold",
    "mlp": "MLP head 128-256-64-1 (ReLU, dropout 0.3, AdamW weight decay 0.05, 300 "
           "full-batch epochs, fixed seed)",
}

# How photos are weighted in the loss: "photo" = every photo 1; "sets" = every set the
# same total weight (1,727 MEBeauty photos would otherwise drown London's 102 faces and
# its panel's view), normalised to a mean weight of 1 within each training fold.
# "sets_sqrt" lies between the two: a set's total weight grows with the square root of
# its photo count (London's share of the total: 0.06 with "photo", 0.5 with "sets",
# 0.2 with this).
WEIGHTING_TEXT = {"photo": "every photo weighs 1",
                  "sets": "every set carries the same total weight",
                  "sets_sqrt": "each set's total weight grows with the square root of its "
                               "photo count (between 'every photo 1' and 'sets balanced')"}


def weights(sets: np.ndarray, how: str) -> np.ndarray:
    """Loss weights of the photos in a training fold (mean 1)."""
    if how == "photo":
        return np.ones(len(sets))
    keys, inv, counts = np.unique(sets, return_inverse=True, return_counts=True)
    if how == "sets_sqrt":
        w = 1.0 / np.sqrt(counts[inv].astype(np.float64))
        return w / w.mean()
    w = len(sets) / (len(keys) * counts[inv])
    return w / w.mean()
