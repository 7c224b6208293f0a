"""Shape embedding: the frontalised mesh as a few numbers that mean "face shape".

Vibe clusters, nearest neighbours and the 2-D map all compare faces in this space,
so it has to ignore what is not shape: position, size and in-plane rotation
(Procrustes alignment) and left-right asymmetry (each shape is averaged with its
mirror image, so a mirrored photo lands on the same spot and a slightly turned
head does not look like a different face). PCA then keeps the few directions
along which the reference faces actually differ.

Units: one embedding unit is 1 % of the face's RMS landmark radius, so the
Euclidean distance between two embeddings is about the RMS displacement of the
mesh points between the two faces, in percent of face size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aurum.measure.canonical import fix_signs

N_MESH = 468  # the mesh without the 10 iris points: gaze moves those, not shape
SCALE = 100.0


def symmetric_shape(front: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """Mirror-averaged, centred, unit-RMS 2-D shape (N_MESH, 2).

    In the face frame x = 0 is the facial midline, so averaging each point with its
    mirror partner (x negated) keeps the symmetric part of the shape only."""
    pts = np.asarray(front, dtype=np.float64)[:N_MESH, :2]
    sym = (pts + pts[partner[:N_MESH]] * np.array([-1.0, 1.0])) / 2.0
    sym = sym - sym.mean(axis=0)
    rms = float(np.sqrt((sym * sym).sum() / len(sym)))
    return sym / max(rms, 1e-12)


def align(shape: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotate a centred unit-RMS shape onto `target` (orthogonal Procrustes, no
    reflection). Symmetric shapes need no rotation, but this keeps the model
    correct if someone turns symmetrisation off."""
    u, _, vt = np.linalg.svd(shape.T @ target)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    return shape @ rot


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
        mean = mean - mean.mean(axis=0)
        mean /= np.sqrt((mean * mean).sum() / len(mean))
        aligned = np.stack([align(s, mean) for s in shapes])
        new = aligned.mean(axis=0)
        if np.allclose(new, mean, atol=1e-10):
            break
        mean = new
    mean = mean - mean.mean(axis=0)
    mean /= np.sqrt((mean * mean).sum() / len(mean))
    aligned = np.stack([align(s, mean) for s in shapes])
    x = aligned.reshape(len(aligned), -1) - mean.reshape(-1)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    # SVD's signs are arbitrary, and "largest |loading| positive" ties between a
    # landmark and its mirror partner: settle them against a fixed generic vector.
    vt = fix_signs(vt)
    var = s * s
    ratio = var / var.sum()
    model = ShapeModel(mean=mean, basis=vt[:n_components].copy(),
                       partner=np.asarray(partner[:N_MESH], dtype=np.int64))
    return model, ratio
