"""An earlier build's decisions (`--like`): its k, cluster names and map.

Why: a rebuild on another processor sees the same faces through slightly different
floats; where the new figures cannot tell the earlier decisions from their own, keeping
them makes the rebuild reproduce the committed artefacts instead of a new picture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers import population

# An earlier map is kept for embeddings within this of the earlier ones: twice the largest
# cross-processor change measured (0.045; tests/processor_noise.py).
LAYOUT_KEEP = 0.1


def load_earlier(folder: Path) -> dict[str, Any] | None:
    """The decisions of an earlier build in `folder` (its k, labels and trait orders),
    or None when there is none there."""
    json_path, npz_path = folder / population.JSON_NAME, folder / population.NPZ_NAME
    if not (json_path.is_file() and npz_path.is_file()):
        return None
    meta = json.loads(json_path.read_text(encoding="utf-8"))
    with np.load(npz_path, allow_pickle=False) as z:
        labels = z["labels"].astype(np.int64)
        emb, layout = z["embedding"], z["layout"]
    return {"k": int(meta["clustering"]["k"]), "labels": dict(zip(meta["ids"], labels.tolist(),
                                                                  strict=True)),
            "orders": [[d["measure"] for d in c["trait_details"]] for c in meta["clusters"]],
            "ids": list(meta["ids"]), "embedding": emb, "layout": layout}


def earlier_layout(ids: list[str], emb: np.ndarray, earlier: dict[str, Any] | None
                   ) -> np.ndarray | None:
    """The earlier build's map when it shows the same faces at the same place in shape
    space (every embedding within LAYOUT_KEEP of the earlier one), else None.

    Why: UMAP's optimisation is chaotic. Another processor's rounding of the mesh moves
    embeddings by up to 0.045, and a refit on such input moved points by a median of
    0.9-1.6 map units (of a 9.5-unit span) in the processor-noise test, keeping only
    73-78 % of each face's ten nearest map neighbours: the same data, a different
    picture. Keeping the earlier layout for the same faces keeps the picture users know."""
    if earlier is None or earlier["ids"] != ids or earlier["embedding"].shape != emb.shape:
        return None
    if float(np.abs(earlier["embedding"] - emb).max()) > LAYOUT_KEEP:
        return None
    return np.asarray(earlier["layout"], dtype=np.float64)


def earlier_orders(ids: list[str], labels: np.ndarray, k: int, earlier: dict[str, Any]
                   ) -> list[list[str] | None]:
    """Per new cluster, the trait order of the earlier cluster that holds most of its
    faces (None when no earlier cluster holds at least half of them)."""
    out: list[list[str] | None] = []
    for c in range(k):
        old = [earlier["labels"][i] for i, lab in zip(ids, labels, strict=True)
               if lab == c and i in earlier["labels"]]
        counts = np.bincount(old, minlength=len(earlier["orders"])) if old else np.zeros(1)
        best = int(np.argmax(counts))
        out.append(earlier["orders"][best] if counts[best] * 2 >= (labels == c).sum() else None)
    return out
