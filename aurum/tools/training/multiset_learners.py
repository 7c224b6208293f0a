"""The several-set trainer's learners (weighted ridge, weighted RBF kernel ridge, a small
MLP head) and the photos' loss weights.

Why weighted: 1,727 MEBeauty photos would otherwise drown London's 102 faces, so a
candidate may give every set the same total weight; every learner takes the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from aurum.tools.training.learners import Model

RIDGE_ALPHAS = np.logspace(0, 4, 17)


def fit_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Model:
    """Weighted ridge, alpha by exact (weighted) leave-one-out from one SVD."""
    w = np.ones(len(y)) if w is None else w
    ym = float(np.sum(w * y) / np.sum(w))
    zm = (w[:, None] * z).sum(axis=0) / np.sum(w)
    sw = np.sqrt(w)
    zc, yc = sw[:, None] * (z - zm), sw * (y - ym)
    u, s, vt = np.linalg.svd(zc, full_matrices=False)
    uty = u.T @ yc
    best = (math.inf, 0.0)
    for a in RIDGE_ALPHAS:
        f = s ** 2 / (s ** 2 + a)
        fitted = u @ (f * uty)
        hat = (u ** 2) @ f + w / np.sum(w)
        err = float(np.mean(((yc - fitted) / (1.0 - hat)) ** 2))
        if err < best[0] - 1e-12:
            best = (err, float(a))
    a = best[1]
    coef = vt.T @ (s / (s ** 2 + a) * uty)
    return Model("linear", ym - float(zm @ coef), {"alpha": a}, coef=coef)


def fit_kernel_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Model:
    """Weighted RBF kernel ridge; gamma and alpha by exact (weighted) leave-one-out."""
    w = np.ones(len(y)) if w is None else w
    p = z.shape[1]
    ym = float(np.sum(w * y) / np.sum(w))
    sw = np.sqrt(w)
    yt = sw * (y - ym)
    g2 = (z * z).sum(1)
    d2 = np.maximum(g2[:, None] + g2[None, :] - 2 * z @ z.T, 0.0)
    best = (math.inf, 0.0, 0.0)
    for g in (0.25 / p, 0.5 / p, 1.0 / p):
        evals, evecs = np.linalg.eigh(sw[:, None] * np.exp(-g * d2) * sw[None, :])
        proj = evecs.T @ yt
        for a in np.logspace(-1, 2, 7):
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
    w = np.ones(len(y)) if w is None else w
    ym = float(np.sum(w * y) / np.sum(w))
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


LEARNERS: dict[str, Callable[..., Model]] = {
    "ridge": fit_ridge, "kernel_ridge": fit_kernel_ridge, "mlp": fit_mlp}
LEARNER_TEXT = {
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
