"""Face shape: Procrustes alignment and mirroring, and the two shape models built on them.

One home for both: the reference population's embedding (`ShapeModel`: vibes, nearest
neighbours, the 2-D map) and the learned attractiveness model's shape space
(`ShapeSpace`). Each ignores what is not shape: position, size and in-plane rotation
(Procrustes alignment, never a reflection) and left-right asymmetry (a shape is averaged
with its mirror image, so a mirrored photo lands on the same spot). PCA then keeps the
few directions along which the training faces differ.

The two models keep the conventions their committed artefacts were fitted with:

* `ShapeModel` (models/reference.npz): the 468 mesh points (gaze moves the 10 iris
  points, not shape), unit RMS radius; one embedding unit is 1 % of that radius, so the
  distance between two embeddings is about the RMS displacement of the mesh points,
  in percent of face size.
* `ShapeSpace` (the attractiveness model files): all 478 points, unit centroid size,
  a mirror-symmetric mean, and the shape's asymmetry kept as a feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aurum.errors import FeatureError
from aurum.measure.canonical import fix_signs
from aurum.measure.mirror import mirror_pairs

N_MESH = 468  # the mesh without the 10 iris points: gaze moves those, not shape
SCALE = 100.0
_FLIP_X = np.array([-1.0, 1.0])

# ------------------------------------------------------ alignment and mirroring --------


def shape2d(front: np.ndarray) -> np.ndarray:
    """(478, 2) float64 from frontalised landmarks; x right, y up, as in `ctx.front`."""
    arr = np.asarray(front, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != 478 or arr.shape[1] < 2:
        raise FeatureError(f"expected 478 landmarks, got shape {arr.shape}")
    out = arr[:, :2].copy()
    if not np.all(np.isfinite(out)):
        raise FeatureError("landmarks contain non-finite values")
    return out


def mirror(s: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """The shape's mirror image about x = 0 (the facial midline in the face frame), with
    each point swapped for its left-right partner."""
    return s[partner] * _FLIP_X


def mirror_shape(s: np.ndarray) -> np.ndarray:
    """`mirror` of a full 478-point shape, with the mesh's partner table."""
    return mirror(s, mirror_pairs())


def unit_rms(s: np.ndarray) -> np.ndarray:
    """Centred on the centroid, scaled to unit RMS radius (`ShapeModel`'s convention)."""
    c = s - s.mean(axis=0)
    rms = float(np.sqrt((c * c).sum() / len(c)))
    return c / max(rms, 1e-12)


def normalise_shape(s: np.ndarray) -> np.ndarray:
    """Centred on the centroid, scaled to unit centroid size (`ShapeSpace`'s convention)."""
    c = s - s.mean(axis=0)
    size = float(np.sqrt((c ** 2).sum()))
    if size < 1e-9:
        raise FeatureError("degenerate landmark shape")
    return c / size


def rotation(s: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2-D rotation that best maps centred `s` onto centred `target` (orthogonal
    Procrustes): never a reflection, which would swap the face's sides."""
    u, _, vt = np.linalg.svd(s.T @ target)
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
    return u @ vt


def align(shape: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A centred unit-RMS shape rotated onto `target`. Symmetric shapes need no rotation,
    but this keeps the model correct if someone turns symmetrisation off."""
    return shape @ rotation(shape, target)


def align_to(s: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Similarity-Procrustes fit of a normalised shape onto a normalised reference."""
    return normalise_shape(s @ rotation(s, ref))


def symmetric_shape(front: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """Mirror-averaged, centred, unit-RMS 2-D shape (N_MESH, 2): averaging each point
    with its mirror partner keeps the symmetric part of the shape only."""
    pts = np.asarray(front, dtype=np.float64)[:N_MESH, :2]
    return unit_rms((pts + mirror(pts, partner[:N_MESH])) / 2.0)


def symmetrise(s: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, float]:
    """Aligned shape averaged with its own mirror image, and the asymmetry (half the
    Procrustes distance between the shape and its mirror). Mirror-invariant."""
    a = align_to(normalise_shape(s), ref)
    m = align_to(mirror_shape(a), ref)
    asym = float(np.sqrt(((a - m) ** 2).sum())) / 2.0
    return (a + m) / 2.0, asym


def generalised_procrustes(shapes: np.ndarray, iters: int = 5) -> np.ndarray:
    """Mirror-symmetric mean shape (478, 2) of a population of 2-D shapes."""
    norm = np.stack([normalise_shape(s) for s in shapes])
    ref = norm.mean(axis=0)
    ref = normalise_shape((ref + mirror_shape(ref)) / 2.0)
    for _ in range(iters):
        aligned = np.stack([symmetrise(s, ref)[0] for s in norm])
        ref = normalise_shape(aligned.mean(axis=0))
        ref = normalise_shape((ref + mirror_shape(ref)) / 2.0)
    return ref


def _pca_basis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of principal directions of centred `x` and the share of variance of each.
    SVD's signs are arbitrary, and "largest |loading| positive" ties between a landmark
    and its mirror partner: they are settled against a fixed generic vector."""
    _, sv, vt = np.linalg.svd(x, full_matrices=False)
    var = sv * sv
    return fix_signs(vt), var / var.sum()

# ------------------------------------------------------- the reference embedding --------


@dataclass
class ShapeModel:
    """Mean shape and PCA basis, stored as plain arrays in the reference artefacts."""

    mean: np.ndarray  # (N_MESH, 2) unit-RMS mean shape (Procrustes target and PCA centre)
    basis: np.ndarray  # (d, N_MESH * 2) orthonormal rows
    partner: np.ndarray  # (N_MESH,) mirror partner of each mesh point

    @property
    def dim(self) -> int:
        return int(self.basis.shape[0])

    def aligned(self, front: np.ndarray) -> np.ndarray:
        return align(symmetric_shape(front, self.partner), self.mean)

    def embed(self, front: np.ndarray) -> np.ndarray:
        """Embedding (d,) of one frontalised mesh (478 or 468 points, x right, y up)."""
        x = (self.aligned(front) - self.mean).reshape(-1)
        return self.basis @ x * (SCALE / np.sqrt(N_MESH))

    def embed_many(self, fronts: np.ndarray) -> np.ndarray:
        return np.stack([self.embed(f) for f in fronts]) if len(fronts) else \
            np.zeros((0, self.dim))


def fit(fronts: np.ndarray, partner: np.ndarray, n_components: int, iterations: int = 10
        ) -> tuple[ShapeModel, np.ndarray]:
    """Generalised Procrustes analysis then PCA; returns the model and the explained
    variance ratio of every component (for choosing and reporting the dimension)."""
    shapes = np.stack([symmetric_shape(f, partner) for f in fronts])
    mean = shapes.mean(axis=0)
    for _ in range(iterations):
        mean = unit_rms(mean)
        new = np.stack([align(s, mean) for s in shapes]).mean(axis=0)
        if np.allclose(new, mean, atol=1e-10):
            break
        mean = new
    mean = unit_rms(mean)
    aligned = np.stack([align(s, mean) for s in shapes])
    vt, ratio = _pca_basis(aligned.reshape(len(aligned), -1) - mean.reshape(-1))
    model = ShapeModel(mean=mean, basis=vt[:n_components].copy(),
                       partner=np.asarray(partner[:N_MESH], dtype=np.int64))
    return model, ratio

# ------------------------------------------------ the attractiveness shape space --------


@dataclass
class ShapeSpace:
    """The training population's shape statistics: a mirror-symmetric Procrustes mean
    and principal components of the symmetrised shapes."""

    mean_shape: np.ndarray  # (478, 2), unit centroid size
    pca_mean: np.ndarray  # (956,)
    components: np.ndarray  # (k, 956), orthonormal rows
    explained: np.ndarray  # (k,) share of variance

    @classmethod
    def fit(cls, shapes: np.ndarray, n_components: int) -> ShapeSpace:
        ref = generalised_procrustes(shapes)
        sym = np.stack([symmetrise(s, ref)[0].ravel() for s in shapes])
        mu = sym.mean(axis=0)
        vt, ratio = _pca_basis(sym - mu)
        return cls(mean_shape=ref, pca_mean=mu, components=vt[:n_components],
                   explained=ratio[:n_components])

    def names(self) -> list[str]:
        return [f"shape_pc{i + 1:02d}" for i in range(len(self.components))] + [
            "averageness", "asymmetry"]

    def transform(self, shape: np.ndarray) -> np.ndarray:
        """PC scores of the symmetrised shape, its distance from the mean shape
        (higher = less average) and its asymmetry; all mirror-invariant."""
        sym, asym = symmetrise(shape, self.mean_shape)
        v = sym.ravel()
        scores = self.components @ (v - self.pca_mean)
        dist = float(np.sqrt(((sym - self.mean_shape) ** 2).sum()))
        return np.concatenate([scores, [dist, asym]])

    def to_dict(self) -> dict[str, Any]:
        return {"mean_shape": _rounded(self.mean_shape), "pca_mean": _rounded(self.pca_mean),
                "components": _rounded(self.components),
                "explained_variance_ratio": _rounded(self.explained)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShapeSpace:
        space = cls(mean_shape=np.asarray(d["mean_shape"], dtype=np.float64),
                    pca_mean=np.asarray(d["pca_mean"], dtype=np.float64),
                    components=np.asarray(d["components"], dtype=np.float64),
                    explained=np.asarray(d["explained_variance_ratio"], dtype=np.float64))
        if space.mean_shape.shape != (478, 2) or space.components.shape[1] != 956:
            raise ValueError("shape space has the wrong dimensions")
        return space


def _rounded(a: np.ndarray, digits: int = 7) -> list:
    """Plain nested lists at `digits` significant digits (stable, compact JSON)."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(
        np.asarray(a, dtype=np.float64)).tolist()
