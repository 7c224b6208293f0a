"""Which reference photos, and the numbers kept of each (no pixels).

Apart from the fit because this is the only step that reads images and runs the
engine: the fit can then be re-run on stored or perturbed numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from aurum.paths import shared_dir


def source_name(folder: Path) -> str:
    """Folder label used in ids: its path under the shared folder, else its name."""
    try:
        return folder.resolve().relative_to(shared_dir()).as_posix()
    except ValueError:
        return folder.name


def collect(folders: list[Path], limit: int | None) -> list[tuple[str, Path]]:
    """(id, file) for every image under the folders, recursively, sorted by id.

    An id is the folder's label (`source_name`) and the file's path under it without
    its extension: stable across machines and runs, and unique: two folders with the
    same label are refused, a file reached through two arguments is kept once, and
    files that differ only by extension keep it in their ids."""
    from aurum.tools.batch import walk_images

    items: list[tuple[str, Path]] = []
    labels: dict[str, Path] = {}
    seen: set[Path] = set()
    for folder in folders:
        src = source_name(folder)
        if src in labels and labels[src] != folder.resolve():
            raise SystemExit(f"error: two folders are both labelled '{src}' "
                             f"({labels[src]} and {folder.resolve()}); rename one")
        labels[src] = folder.resolve()
        files = list(walk_images(folder))
        if limit:
            files = files[:limit]
        for p in files:
            real = p.resolve()
            if real in seen:
                continue
            seen.add(real)
            rel = p.relative_to(folder).with_suffix("").as_posix()
            items.append((f"{src}/{rel}", p))
    counts: dict[str, int] = {}
    for face_id, _ in items:
        counts[face_id] = counts.get(face_id, 0) + 1
    items = [(f"{face_id}{p.suffix.lower()}" if counts[face_id] > 1 else face_id, p)
             for face_id, p in items]
    return sorted(items)


def analyse_all(items: list[tuple[str, Path]], engine_models: Path, *,
                jobs: int | None = None, quiet: bool = True
                ) -> tuple[dict[str, Any], list[dict[str, str]], str]:
    """Analyse every image through the batch path (worker processes, progress on a
    terminal); returns per-face numbers (no pixels), failures and the attractiveness
    model's status. Results arrive in any order and are stored by id, so the arrays
    are the same for any number of workers; only the numbers are kept (about 12 kB a
    face), never an image. The landmarks are kept as MediaPipe's pipeline returned
    them: everything the fit derives from them (`from_landmarks`) can then be re-run on
    perturbed landmarks, as another processor's kernels would round them."""
    from aurum.tools import workers
    from aurum.tools.batch import Progress

    index = {str(path): face_id for face_id, path in items}
    spec = workers.JobSpec(kind="analyse", models=str(engine_models))
    n_jobs = workers.cpu_count() if jobs is None else jobs
    spec.threads = max(1, workers.cpu_count() // max(n_jobs, 1))
    paths = [str(path) for _, path in items]
    results = workers.run_local(paths, spec, n_jobs) if n_jobs > 0 else \
        workers.run_inline(paths, spec)
    show = not quiet and sys.stderr.isatty()
    progress = Progress(len(paths), show)
    got: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    attr_status = "unavailable: no face analysed"
    for r in results:
        face_id = index[r["path"]]
        if r.get("error") is None and r.get("numbers") is not None:
            got[face_id] = r["numbers"]
            attr_status = r.get("attractiveness_status", attr_status)
        else:
            errors[face_id] = r.get("error") or "incomplete"
        progress.update(r.get("error") is not None)
    progress.close()
    ids = [face_id for face_id, _ in items if face_id in got]
    failures = [{"id": face_id, "error": errors[face_id]}
                for face_id, _ in items if face_id in errors]
    return ({"ids": ids, "landmarks": np.array([got[i]["landmarks"] for i in ids]),
             "quality_norm": np.array([got[i]["quality_norm"] for i in ids]),
             "attractiveness": np.array([got[i]["attractiveness"] for i in ids])},
            failures, attr_status)
