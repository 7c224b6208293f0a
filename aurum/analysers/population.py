"""The reference population: percentiles, vibe clusters and the 2-D map at run time.

Everything here reads the artefacts `python -m aurum build-reference` wrote
(`models/reference.npz` with plain arrays, `models/reference.json` with names and
metadata); nothing is fitted at run time, and neither umap nor numba is imported,
so placing a face costs microseconds and no JIT compilation.

A percentile is the empirical CDF of the reference faces' scores, RE-SCORED UNDER
THE SAME CONFIG as the user's (a designer who moves a weight moves the
population too), never a similarity or a min-max rescaling.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers import store
from aurum.config import DEFAULT_COMPONENTS, QUALITY_METRICS, Config
from aurum.measure import geometric_components, geometry, quality
from aurum.measure.canonical import smallest
from aurum.measure.shape import ShapeModel

FORMAT = 1
NPZ_NAME = "reference.npz"
JSON_NAME = "reference.json"
PLACE_K = 5  # reference points whose map positions place a new face
N_NEIGHBOURS = 5
SCORE_FIELDS = ("final", "geometric", "attractiveness")

# Geometry measures a person can read as a trait, from the component specs:
# (measure, phrase when above the population mean, phrase when below, label).
TRAITS: tuple[tuple[str, str, str, str], ...] = tuple(
    (c.name, c.trait.high, c.trait.low, c.trait.label)
    for c in geometric_components.COMPONENTS if c.trait is not None)
TRAIT_MIN_Z = 0.2  # smaller cluster-mean deviations are not worth a word
# Two traits closer than this (in SD) are a tie that an earlier build's order settles:
# processor noise moved cluster-mean z-scores by up to 0.04 (tests/processor_noise.py).
TRAIT_TIE = 0.1


def empirical_percentile(sorted_values: np.ndarray, x: float) -> float:
    """Share of values strictly below `x` plus half of the ties, in percent."""
    n = len(sorted_values)
    lo = int(np.searchsorted(sorted_values, x, side="left"))
    hi = int(np.searchsorted(sorted_values, x, side="right"))
    return 100.0 * (lo + 0.5 * (hi - lo)) / n


def place_on_map(emb: np.ndarray, ref_emb: np.ndarray, ref_xy: np.ndarray,
                 k: int = PLACE_K, dist: np.ndarray | None = None) -> np.ndarray:
    """2-D position of a new face on a stored layout: inverse-distance weighted mean of
    its k nearest reference faces' positions (a face equal to a reference face lands
    exactly on it; `dist`: those distances, if known). Replaces umap's `transform`."""
    d = np.sqrt(((ref_emb - emb) ** 2).sum(axis=1)) if dist is None else dist
    k = min(k, len(d))
    idx = np.argpartition(d, k - 1)[:k]
    near = d[idx]
    if near.min() < 1e-9:
        return ref_xy[idx[int(np.argmin(near))]].astype(np.float64)
    w = 1.0 / near
    return (ref_xy[idx] * w[:, None]).sum(axis=0) / w.sum()


def round2(values: np.ndarray) -> np.ndarray:
    """Python's `round(v, 2)`, element-wise: the engine rounds that way, and
    `np.round` differs on halves (74.395 -> 74.4 vs 74.39), which would shift ties."""
    v = np.asarray(values, dtype=np.float64)
    out = np.round(v, 2)
    with np.errstate(invalid="ignore"):
        near_half = np.abs(np.abs(v * 100.0) % 1.0 - 0.5) < 1e-6
    for i in zip(*np.nonzero(near_half), strict=True):  # only the rare near-ties
        out[i] = round(float(v[i]), 2)
    return out


def blend_many(geometric: np.ndarray, attractiveness: np.ndarray, weight: float) -> np.ndarray:
    """`aurum.engine.blend` for many faces: the same formula, the same rule for a
    missing half, the same rounding (the engine rounds geometric and final to 0.01)."""
    g_ok, a_ok = np.isfinite(geometric), np.isfinite(attractiveness)
    both = round2(weight * geometric + (1.0 - weight) * attractiveness)
    return np.where(g_ok & a_ok, both,
                    np.where(g_ok, geometric, np.where(a_ok, attractiveness, np.nan)))


def rescore(measures: np.ndarray, names: list[str], attractiveness: np.ndarray,
            config: Config) -> dict[str, np.ndarray]:
    """Geometric and final scores of many faces under `config`, as the engine would
    report them one by one."""
    _, total = geometry.component_scores(measures, names, config)
    geo = round2(total)
    return {"geometric": geo, "final": blend_many(geo, attractiveness, config.blend_weight),
            "attractiveness": np.asarray(attractiveness, dtype=np.float64)}


def _config_key(config: Config) -> tuple[Any, ...]:
    """What the scores of a population depend on (the thresholds do not enter)."""
    return (tuple((n, c.ideal, c.tolerance, c.weight) for n, c in config.components.items()),
            config.blend_weight)


def describe_clusters(measures: np.ndarray, names: list[str], labels: np.ndarray, k: int,
                      earlier: list[list[str] | None] | None = None) -> list[dict[str, Any]]:
    """A short name and 2-3 traits per cluster from the z-scores of its members' mean
    measures against the whole population, so a user can see why they are in it.

    `earlier[c]` is the trait order an earlier build gave the same cluster. Traits often
    sit within a few hundredths of an SD of each other (1.17 and 1.14 here), and
    another processor's rounding of the mesh reorders them, renaming the cluster. The
    earlier order is kept when it still fits these figures (`_fits`)."""
    col = {n: i for i, n in enumerate(names)}
    mu = np.nanmean(measures, axis=0)
    sd = np.nanstd(measures, axis=0)
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    for c in range(k):
        members = measures[labels == c]
        rows = []
        for measure, high, low, label in TRAITS:
            j = col[measure]
            z = float((np.nanmean(members[:, j]) - mu[j]) / (sd[j] + 1e-12))
            rows.append((abs(z), measure, z, high if z > 0 else low, label))
        rows.sort(key=lambda r: (-r[0], r[1]))
        picked = [r for r in rows if r[0] >= TRAIT_MIN_Z][:3]
        if len(picked) < 2:
            picked = rows[:2]
        before = earlier[c] if earlier and c < len(earlier) else None
        if before and _fits(before, rows, len(picked)):
            by_measure = {r[1]: r for r in rows}
            picked = [by_measure[m] for m in before]
        details = [{"measure": m, "z": round(z, 2), "phrase": phrase, "label": label,
                    "description": geometry.DESCRIPTIONS[m]}
                   for _, m, z, phrase, label in picked]
        name = _name(details, used)
        used.add(name)
        traits = [f"{d['phrase']}: {d['label']} {abs(d['z']):.1f} SD "
                  f"{'above' if d['z'] > 0 else 'below'} the reference average"
                  for d in details]
        out.append({"id": c, "name": name, "traits": traits, "trait_details": details,
                    "size": int((labels == c).sum())})
    return out


def _fits(order: list[str], rows: list[tuple[Any, ...]], n_picked: int) -> bool:
    """Whether an earlier trait order is as good a reading of these z-scores as the
    sorted one: the same number of traits, each at least TRAIT_MIN_Z, and each within
    TRAIT_TIE of the |z| ranked in its place now."""
    absz = {r[1]: r[0] for r in rows}
    if len(order) != n_picked or any(m not in absz for m in order):
        return False
    return all(absz[m] >= TRAIT_MIN_Z and abs(absz[m] - rows[i][0]) <= TRAIT_TIE
               for i, m in enumerate(order))


def _name(details: list[dict[str, Any]], used: set[str]) -> str:
    phrases = [d["phrase"] for d in details]
    for combo in ([0, 1], [0, 2], [1, 2], [0, 1, 2]):
        if max(combo) < len(phrases):
            name = ", ".join(phrases[i] for i in combo)
            name = name[0].upper() + name[1:]
            if name not in used:
                return name
    return f"{phrases[0][0].upper()}{phrases[0][1:]} ({len(used) + 1})"


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`np.savez` with fixed zip timestamps and member order, so identical arrays give
    byte-identical files (a rebuild that changed nothing shows no diff)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            arr = np.ascontiguousarray(arrays[key])
            if arr.dtype == object:
                raise TypeError(f"{key}: object arrays are not allowed (no pickles)")
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    path.write_bytes(buf.getvalue())


def shape_version(model: ShapeModel) -> str:
    """Fingerprint of the shape space: stored embeddings are comparable only within one."""
    h = hashlib.sha256()
    for a in (model.mean, model.basis, model.partner):
        # + 0 turns -0.0 into 0.0: a midline point's x loading is zero with a sign
        # that the BLAS kernel picks, and the fingerprint must not see it
        h.update(np.ascontiguousarray(a + 0).tobytes())
    return h.hexdigest()[:16]


class ReferencePopulation:
    """Loaded artefacts plus per-config caches; one instance serves many threads."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        if meta.get("format") != FORMAT:
            raise ValueError(f"reference artefacts have format {meta.get('format')}, "
                             f"this code reads {FORMAT}: rebuild with build-reference")
        self.meta = meta
        # A population built with `build-reference --name` says whose it is wherever
        # it is counted (Status, the percentile's text, Tune's summary); the built-in
        # reference has no name and keeps its wording.
        self.name: str | None = meta.get("name") or None
        self.ids: list[str] = list(meta["ids"])
        self.names: list[str] = list(meta["measure_names"])
        self.quality_names: list[str] = list(meta.get("quality_names") or [])[:-1]
        check_lists(meta)
        self.measures = arrays["measures"].astype(np.float64)
        self.quality_norm = arrays["quality_norm"].astype(np.float64)
        self.attractiveness = arrays["attractiveness"].astype(np.float64)
        self.embedding = arrays["embedding"].astype(np.float64)
        self.labels = arrays["labels"].astype(np.int64)
        self.centres = arrays["centres"].astype(np.float64)
        self.layout = arrays["layout"].astype(np.float64)
        self.shape = ShapeModel(mean=arrays["shape_mean"].astype(np.float64),
                                basis=arrays["shape_basis"].astype(np.float64),
                                partner=arrays["shape_partner"].astype(np.int64))
        self.shape_version = shape_version(self.shape)
        if self.shape_version != meta.get("shape_version"):
            raise ValueError("reference.npz and reference.json come from different builds")
        self.clusters: list[dict[str, Any]] = list(meta["clusters"])
        n = len(self.ids)
        for key in ("measures", "quality_norm", "attractiveness", "embedding", "labels",
                    "layout"):
            if len(arrays[key]) != n:
                raise ValueError(f"reference.npz: '{key}' has {len(arrays[key])} rows, "
                                 f"expected {n}")
        if self.measures.shape[1] != len(self.names):
            raise ValueError("reference.npz: measures do not match measure_names")
        # Each member's distance to its centre, sorted per cluster, for the
        # "how typical of your vibe are you" percentile.
        d = np.sqrt(((self.embedding - self.centres[self.labels]) ** 2).sum(axis=1))
        self._centre_dist = [np.sort(d[self.labels == c]) for c in range(len(self.centres))]
        self.has_attractiveness = bool(np.isfinite(self.attractiveness).any())
        self._cache: OrderedDict[Any, dict[str, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    # -- status -----------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.ids)

    def status(self) -> str:
        note = "" if self.has_attractiveness else \
            " (no attractiveness scores: built without the model)"
        return (f"ready: {self.n} reference faces{self.of_name()}, "
                f"{len(self.centres)} clusters{note}")

    def of_name(self) -> str:
        """" of 'name'" for a named population, "" for the built-in one."""
        return f" of '{self.name}'" if self.name else ""

    # -- analyze time -----------------------------------------------------------
    def place(self, ctx: Any) -> dict[str, Any]:
        """Embedding, vibe cluster, neighbours and map position (config-independent)."""
        return self.place_front(ctx.front)

    def place_front(self, front: np.ndarray) -> dict[str, Any]:
        emb = self.shape.embed(front)
        if not np.all(np.isfinite(emb)):
            return {"status": "unavailable: the face's shape could not be embedded"}
        dc = np.sqrt(((self.centres - emb) ** 2).sum(axis=1))
        c = int(np.argmin(dc))
        dist = float(dc[c])
        dn = np.sqrt(np.einsum("ij,ij->i", d := self.embedding - emb, d))  # one temporary
        near = smallest(dn, N_NEIGHBOURS)
        xy = place_on_map(emb, self.embedding, self.layout, dist=dn)
        info = self.clusters[c]
        vibe = {
            "cluster": c,
            "name": info["name"],
            "traits": list(info["traits"]),
            "distance": round(dist, 3),
            "distance_percentile": round(empirical_percentile(self._centre_dist[c], dist), 1),
            "neighbours": [{"id": self.ids[i], "distance": round(float(dn[i]), 3)}
                           for i in near],
            "map": {"x": round(float(xy[0]), 4), "y": round(float(xy[1]), 4)},
            "status": "ok",
        }
        return {"status": "ok", "embedding": [round(float(v), 5) for v in emb],
                "shape_version": self.shape_version, "vibe": vibe}

    # -- score time -------------------------------------------------------------
    def _scores(self, config: Config, with_store: bool) -> dict[str, np.ndarray]:
        """Sorted finite scores of the population under `config` (cached per config)."""
        st = None
        if with_store and (store.peek_shared_store() is not None or store.store_exists()):
            # No store open and none on disk: nobody has opted in here. Count it as
            # empty rather than create one: scoring stays free of side effects.
            try:
                st = store.peek_shared_store() or store.shared_store(self.shape.dim)
            except store.StoreError:
                raise
            except Exception as exc:  # e.g. an unreachable server
                raise store.StoreError(str(exc)) from exc
        key = ("sorted", _config_key(config), st.version if st is not None else None)
        hit = self._cached(key)
        if hit is not None:
            return hit
        raw = self._reference_scores(config)  # rescore is row by row: store rows append
        n_store = 0
        if st is not None:
            try:
                sm, sa = self._store_numbers(st)
            except Exception as exc:
                raise store.StoreError(f"cannot read the opt-in store: {exc}") from exc
            n_store = len(sa)
            if n_store:
                extra = rescore(sm, self.names, sa, config)
                raw = {f: np.concatenate([v, extra[f]]) for f, v in raw.items()}
        out: dict[str, np.ndarray] = {f: np.sort(v[np.isfinite(v)]) for f, v in raw.items()}
        out["_n_store"] = np.array([n_store])
        out["_ref_attr"] = np.array([self.has_attractiveness])
        return self._remember(key, out)

    def _reference_scores(self, config: Config) -> dict[str, np.ndarray]:
        """The reference faces re-scored under `config`, row by row: computed once per
        config for both the percentiles and the Tune tab's summary."""
        key = ("reference", _config_key(config))
        hit = self._cached(key)
        if hit is not None:
            return hit
        return self._remember(key, rescore(self.measures, self.names, self.attractiveness,
                                           config))

    def _cached(self, key: tuple[Any, ...]) -> dict[str, np.ndarray] | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _remember(self, key: tuple[Any, ...], value: dict[str, np.ndarray]
                  ) -> dict[str, np.ndarray]:
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > 64:
                self._cache.popitem(last=False)
        return value

    def _store_numbers(self, st: store.OptInStore) -> tuple[np.ndarray, np.ndarray]:
        rows, attr = [], []
        for p in st.payloads():
            if p.get("embedding_version") not in (None, self.shape_version):
                continue
            m = p.get("measures") or {}
            rows.append([np.nan if m.get(n) is None else float(m[n]) for n in self.names])
            a = (p.get("scores") or {}).get("attractiveness")
            attr.append(np.nan if a is None else float(a))
        return (np.array(rows, dtype=np.float64).reshape(-1, len(self.names)),
                np.array(attr, dtype=np.float64))

    def percentile(self, scores: dict[str, float | None], config: Config) -> dict[str, Any]:
        """Where the user's scores fall in the population re-scored under `config`."""
        with_store = config.percentile_population == "reference+store"
        status = "ok"
        try:
            pop = self._scores(config, with_store)
        except store.StoreError as exc:
            pop = self._scores(config, False)
            with_store = False
            status = f"ok (reference only: {exc})"
        out: dict[str, Any] = {}
        for f in SCORE_FIELDS:
            v = scores.get(f)
            ref = pop[f]
            ok = v is not None and math.isfinite(v) and len(ref) > 0
            out[f] = round(empirical_percentile(ref, float(v)), 1) if ok else None  # type: ignore[arg-type]
        a = scores.get("attractiveness")
        if out["final"] is not None and not bool(pop["_ref_attr"][0]) and a is not None \
                and math.isfinite(a):
            # The user's final blends in a model the reference was built without:
            # comparing it with geometric-only finals would mislead.
            out["final"] = None
            status = ("ok (no final percentile: the reference was built without the "
                      "attractiveness model; rebuild it with build-reference)")
        n_store = int(pop["_n_store"][0])
        head = "final" if out["final"] is not None else "geometric"
        n_head = len(pop[head])
        out["n"] = n_head
        out["n_reference"] = self.n
        out["n_store"] = n_store
        out["population"] = "reference+store" if with_store else "reference"
        out["status"] = status
        if out[head] is None:
            out["text"] = None
        else:
            who = (f"{n_head} faces ({self.n} reference, {n_store} opted in)" if with_store
                   else f"{n_head} reference faces{self.of_name()}")
            label = "" if head == "final" else " on the geometric score"
            out["text"] = f"higher than {round(out[head])} % of {who}{label}"
        return out

    # -- app helpers -------------------------------------------------------------
    def map_layout(self) -> dict[str, Any]:
        """Every reference face's map position and cluster, for the app's plotly map."""
        return {
            "x": [round(float(v), 4) for v in self.layout[:, 0]],
            "y": [round(float(v), 4) for v in self.layout[:, 1]],
            "cluster": [int(c) for c in self.labels],
            "ids": list(self.ids),
            "clusters": [{"id": c["id"], "name": c["name"], "traits": list(c["traits"]),
                          "size": c["size"], "centre_xy": list(c["centre_xy"])}
                         for c in self.clusters],
        }

    def reference_summary(self, config: Config) -> dict[str, Any]:
        """How the reference fares under `config`: the share passing the quality gate
        and the score distributions, for the designers' Tune tab."""
        passed = quality.passes(self.quality_norm, config.thresholds, self.quality_names)
        sc = self._reference_scores(config)

        def lst(a: np.ndarray) -> list[float | None]:
            return [None if not math.isfinite(v) else float(v) for v in a]

        return {"n": self.n, "name": self.name, "pass_share": round(float(passed.mean()), 4),
                "passed": [bool(p) for p in passed],
                "final_scores": lst(sc["final"]), "geometric_scores": lst(sc["geometric"]),
                "attractiveness_scores": lst(sc["attractiveness"])}

    # -- opt-in store ------------------------------------------------------------
    def opt_in(self, report_dict: dict[str, Any], embedding: list[float] | np.ndarray) -> str:
        """Store this face's numbers (never the photo); returns the id to forget it."""
        if not report_dict.get("ok") or report_dict.get("age_gate", {}).get("status") != "passed":
            raise ValueError("only a face analysed and passed by the adults-only check")
        emb = np.asarray(embedding, dtype=np.float64).reshape(-1)
        if emb.shape != (self.shape.dim,) or not np.all(np.isfinite(emb)):
            raise ValueError(f"expected a finite {self.shape.dim}-d shape embedding")
        payload = optin_payload(report_dict, self.shape_version)
        return store.shared_store(self.shape.dim).add(emb, payload)

    def forget(self, point_id: str) -> bool:
        """Delete an opted-in entry by the id the user was given."""
        return store.shared_store(self.shape.dim).delete(point_id)


def optin_payload(report: dict[str, Any], shape_ver: str) -> dict[str, Any]:
    """The numbers kept for an opted-in face: scores, raw measures (so the entry can
    be re-scored under any config), normalised quality values and the date."""

    def num(v: Any) -> float | None:
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    comps = {c["name"]: num(c.get("value"))
             for c in (report.get("geometric") or {}).get("components", [])}
    metrics = (report.get("quality") or {}).get("metrics", {})
    q = {m: num((metrics.get(m) or {}).get("value")) for m in (*QUALITY_METRICS, "quality")}
    scores = {f: num((report.get(f) or {}).get("score")) for f in SCORE_FIELDS}
    return {"scores": scores, "measures": comps, "quality": q,
            "created": _dt.datetime.now(_dt.UTC).date().isoformat(),
            "embedding_version": shape_ver}


def check_lists(meta: dict[str, Any]) -> None:
    """Refuse, with the reason, artefacts built for other quality metrics or geometric
    components than this code's specs: their columns would be read as the wrong
    measures. The reason reaches the Status tab and every "unavailable" note."""
    for key, label, want in (
            ("quality_names", "quality metrics", [*QUALITY_METRICS, "quality"]),
            ("measure_names", "geometric components", list(DEFAULT_COMPONENTS))):
        got = list(meta.get(key) or [])
        if got != want:
            extra = sorted(set(want) - set(got))
            gone = sorted(set(got) - set(want))
            diff = "; ".join(p for p in (f"new here: {', '.join(extra)}" if extra else "",
                                         f"no longer here: {', '.join(gone)}" if gone else "",
                                         "order differs" if not extra and not gone else "")
                             if p)
            raise ValueError(f"the reference population was built for other {label} "
                             f"({diff}): rebuild it with `python -m aurum build-reference`")


def load(npz_path: Path, json_path: Path) -> ReferencePopulation:
    with np.load(npz_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(Path(json_path).read_text(encoding="utf-8"))
    return ReferencePopulation(arrays, meta)


def load_default(models_dir: Path) -> ReferencePopulation:
    """The built reference in `models_dir`; FileNotFoundError says how to build it."""
    npz, js = Path(models_dir) / NPZ_NAME, Path(models_dir) / JSON_NAME
    missing = [p.name for p in (npz, js) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"reference population not built ({', '.join(missing)} missing in {models_dir}); "
            "run `python -m aurum build-reference`")
    return load(npz, js)
