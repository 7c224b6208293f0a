"""Fits that must not depend on the CPU: the same result for shuffled inputs and for
inputs jittered by 1e-9 (the size of a BLAS kernel's rounding), same signs, same
clusters. A sign or an order settled by the last bits of an SVD fails here on any
machine, long before it fails on another processor's kernels."""

from __future__ import annotations

import numpy as np
import pytest

from aurum.measure import canonical, shape
from aurum.paths import models_dir
from aurum.tools.reference.clusters import cluster
from aurum.tools.reference.layout import fit_layout

JITTER = 1e-9


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(models_dir() / "reference.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def fronts(ref) -> np.ndarray:
    """The 359 reference faces' symmetric shapes, rebuilt from the committed embedding
    (mean + components): real face shapes with no shared data needed."""
    coef = ref["embedding"] * np.sqrt(shape.N_MESH) / shape.SCALE
    flat = ref["shape_mean"].reshape(-1) + coef @ ref["shape_basis"]
    return flat.reshape(len(coef), shape.N_MESH, 2)


def _jitter(x: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return x * (1.0 + JITTER * rng.standard_normal(x.shape))


def test_reference_vector_is_fixed_and_unit():
    v = canonical.reference_vector(936)
    assert np.linalg.norm(v) == pytest.approx(1.0)
    assert np.array_equal(v, canonical.reference_vector(936))


def test_fix_signs_ignores_the_incoming_sign(ref):
    basis = ref["shape_basis"]
    flips = np.where(np.arange(len(basis)) % 2 == 0, -1.0, 1.0)[:, None]
    assert np.array_equal(canonical.fix_signs(basis * flips), canonical.fix_signs(basis))
    # every committed component is far from a tie: its |cosine| with the reference is
    # typically 1/sqrt(936) = 0.03 and at worst ~5e-5 here, while a 1e-9 jitter or a
    # kernel's rounding moves a cosine by ~1e-9 (the refit tests below measure that)
    assert canonical.sign_margins(basis).min() > 1e-6


def test_old_rule_ties_on_symmetric_shapes(ref):
    """Why the old "largest |loading| positive" rule was not enough: in a symmetrised
    shape a point's x and its mirror partner's x have the same |loading|."""
    basis = ref["shape_basis"].reshape(len(ref["shape_basis"]), shape.N_MESH, 2)
    partner = ref["shape_partner"]
    ties = 0
    for comp in basis:
        i = np.unravel_index(np.argmax(np.abs(comp)), comp.shape)
        j = (partner[i[0]], i[1])
        ties += int(partner[i[0]] != i[0] and np.isclose(abs(comp[i]), abs(comp[j]), rtol=1e-6))
    assert ties >= 1


@pytest.mark.parametrize("change", ["shuffled", "jittered"])
def test_shape_model_is_the_same_for_shuffled_and_jittered_faces(fronts, ref, change):
    partner = ref["shape_partner"]
    base, ratio = shape.fit(fronts, partner, 8)
    if change == "shuffled":
        order = np.random.default_rng(7).permutation(len(fronts))
        other, ratio2 = shape.fit(fronts[order], partner, 8)
    else:
        other, ratio2 = shape.fit(_jitter(fronts), partner, 8)
    assert np.allclose(other.mean, base.mean, atol=1e-7)
    # same signs: rows agree to rounding, not merely up to +-1
    assert np.abs(other.basis - base.basis).max() < 1e-6
    assert np.allclose(ratio2[:8], ratio[:8], atol=1e-9)
    # and the embedding the artefacts store follows
    emb = np.round(base.embed_many(fronts), 6)
    emb2 = np.round(other.embed_many(fronts), 6)
    assert np.abs(emb - emb2).max() <= 2e-6


def test_committed_shape_basis_matches_a_refit(fronts, ref):
    """The committed basis already uses the canonical signs (a refit on its own shapes
    reproduces it, signs included)."""
    model, _ = shape.fit(fronts, ref["shape_partner"], 8)
    # the shapes are rebuilt from 1e-6-rounded numbers, so the basis agrees to ~1e-4;
    # a flipped sign would differ by 2x the loading (up to 0.1)
    assert np.all(np.sum(model.basis * ref["shape_basis"], axis=1) > 0.999)
    assert np.abs(model.basis - ref["shape_basis"]).max() < 1e-3


@pytest.mark.parametrize("change", ["shuffled", "jittered"])
def test_clusters_are_the_same_for_shuffled_and_jittered_faces(ref, change):
    emb = ref["embedding"]
    k = len(ref["centres"])
    labels, centres = cluster(emb, k, seed=0)
    if change == "shuffled":
        order = np.random.default_rng(3).permutation(len(emb))
        labels2, centres2 = cluster(emb[order], k, seed=0)
        labels2 = labels2[np.argsort(order)]
    else:
        labels2, centres2 = cluster(_jitter(emb), k, seed=0)
    assert np.array_equal(labels, labels2)
    assert np.abs(centres - centres2).max() < 1e-5


def test_canonical_order_does_not_follow_the_input_order(ref):
    emb = ref["embedding"]
    order = np.random.default_rng(5).permutation(len(emb))
    a = emb[canonical.canonical_order(emb)]
    b = emb[order][canonical.canonical_order(emb[order])]
    assert np.array_equal(a, b)
    assert np.array_equal(canonical.canonical_order(_jitter(emb)), canonical.canonical_order(emb))


@pytest.mark.slow
def test_map_layout_is_the_same_for_shuffled_faces(ref):
    emb = ref["embedding"]
    layout = fit_layout(emb, seed=0)
    order = np.random.default_rng(11).permutation(len(emb))
    shuffled = fit_layout(emb[order], seed=0)[np.argsort(order)]
    # the build rounds the embedding to 1e-6 before the map: a 1e-9 jitter upstream
    # reaches the map only through that rounding
    jittered = fit_layout(np.round(_jitter(emb), 6), seed=0)
    assert np.abs(shuffled - layout).max() < 1e-3
    assert np.abs(jittered - layout).max() < 1e-3
