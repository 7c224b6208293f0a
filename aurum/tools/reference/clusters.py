"""The vibe clusters: how many (a rule on bootstrap stability) and the k-means fit.

Apart because the k rule is the build's one judgement call, and the processor-noise
tests and `--like` (`settle_k`) reason about it on its per-k figures alone.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.cluster import KMeans  # at import: threadpool_limits only sees loaded libraries
from sklearn.metrics import adjusted_rand_score, silhouette_score

from aurum.measure.canonical import canonical_order, reference_vector

K_RANGE = range(3, 9)  # two groups would be a binary label, not a set of vibes
BOOTSTRAPS = 20
# The smallest stability gap the k rule treats as real: below it the fewer clusters win.
K_MARGIN = 0.05
# Above this many faces the k rule and the map are fitted on a sample of this size (the
# rest follow by nearest centre and nearest neighbours): memory and time grow linearly
# with the population. At or below it, every face (the 2,303-face reference is built
# as before, byte for byte). Measured in docs/scale.md.
FIT_SAMPLE = 5000


def fit_sample(emb: np.ndarray, seed: int, size: int | None = None) -> np.ndarray:
    """Indices (sorted) of a fixed-seed sample of `size` rows (FIT_SAMPLE), drawn in the
    canonical row order so shuffled inputs give the same sample; every row when there
    are fewer."""
    size = FIT_SAMPLE if size is None else size
    if len(emb) <= size:
        return np.arange(len(emb))
    order = canonical_order(emb)
    pick = np.random.default_rng(seed).choice(len(emb), size, replace=False)
    return np.sort(order[pick])


def k_range(n: int) -> range:
    """The k the rule considers: 3..8, at most one cluster per 8 faces."""
    return range(K_RANGE.start, min(K_RANGE.stop, max(K_RANGE.start + 1, n // 8)))


def choose_k(emb: np.ndarray, seed: int, ks: range) -> tuple[int, list[dict[str, float]]]:
    """Silhouette and bootstrap stability (mean adjusted Rand index between the full
    fit and fits on 80 % subsamples) per k, and the k the rule picks: the smallest k
    whose stability is within the noise margin of the most stable k.

    Why not the most stable k: its stability is a mean of BOOTSTRAPS noisy values, and
    neighbouring k often sit inside each other's noise. On the 359-face reference (SFHQ
    and London) k = 3 and k = 4 scored 0.902 (SD 0.105) and 0.892 (SD 0.049) here, and
    0.830 (0.182) and 0.880 (0.062) on a processor whose MediaPipe kernels round
    differently, so the old argmax flipped k with the last digits of the mesh. Among k
    that the bootstrap cannot tell apart, the fewest clusters is the simpler description
    and the one that reproduces."""
    emb = emb[fit_sample(emb, seed)]  # at most FIT_SAMPLE faces: the rule is O(n^2)
    emb = emb[canonical_order(emb)]  # index-based subsamples: same for any input order
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        full = KMeans(k, n_init=10, random_state=seed).fit(emb)
        sil = float(silhouette_score(emb, full.labels_))
        aris = []
        for b in range(BOOTSTRAPS):
            idx = np.sort(rng.choice(len(emb), int(0.8 * len(emb)), replace=False))
            sub = KMeans(k, n_init=10, random_state=seed + 1 + b).fit(emb[idx])
            aris.append(adjusted_rand_score(full.labels_[idx], sub.labels_))
        rows.append({"k": k, "silhouette": round(sil, 4),
                     "stability_ari_mean": round(float(np.mean(aris)), 4),
                     "stability_ari_sd": round(float(np.std(aris)), 4)})
    return pick_k(rows), rows


def stability_margin(a: dict[str, float], b: dict[str, float]) -> float:
    """How far apart two k's mean stabilities must be before the bootstrap can tell
    them apart: two standard errors of the difference of the means, at least K_MARGIN."""
    se = math.sqrt((a["stability_ari_sd"] ** 2 + b["stability_ari_sd"] ** 2) / BOOTSTRAPS)
    return max(K_MARGIN, 2.0 * se)


def pick_k(rows: list[dict[str, float]]) -> int:
    """The rule of `choose_k` on its per-k figures (rows in increasing k)."""
    best = max(rows, key=lambda r: r["stability_ari_mean"])
    for r in rows:
        if best["stability_ari_mean"] - r["stability_ari_mean"] <= stability_margin(r, best):
            return int(r["k"])
    return int(best["k"])  # unreachable: best is within its own margin


def settle_k(rule_k: int, per_k: list[dict[str, float]], earlier_k: int | None) -> int:
    """The earlier build's k when the bootstrap cannot tell it from the most stable k
    (the same margin as the rule), else the rule's k: a rebuild on another processor
    keeps the committed k unless the new figures contradict it."""
    rows = {int(r["k"]): r for r in per_k}
    if earlier_k is None or earlier_k not in rows:
        return rule_k
    best = max(per_k, key=lambda r: r["stability_ari_mean"])
    gap = best["stability_ari_mean"] - rows[earlier_k]["stability_ari_mean"]
    return earlier_k if gap <= stability_margin(rows[earlier_k], best) else rule_k


def cluster(emb: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means; clusters numbered by size (largest first, ties by the smallest centre
    projection) so ids are stable. k-means++ seeding picks rows by index, so it is fed
    the rows in their canonical order: shuffled inputs give the same clusters."""
    km = KMeans(k, n_init=20, random_state=seed).fit(emb[canonical_order(emb)])
    sizes = np.bincount(km.labels_, minlength=k)
    key = km.cluster_centers_ @ reference_vector(emb.shape[1])
    order = sorted(range(k), key=lambda c: (-sizes[c], key[c]))
    centres = np.round(km.cluster_centers_[order], 6)
    # Labels = nearest stored centre: exactly the rule `place` applies at run time.
    labels = np.argmin(((emb[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    return labels.astype(np.int64), centres
