"""Does the geometric score move with hair colour, and can a change to it stop that?

Scores geometric-score variants on the landmarks `scripts/geohair_collect.py` stored
(every mesh pass, so no variant re-runs MediaPipe) and prints, for each:

* hair dye: |change| of the geometric score, p95 and max, over the 32 pairs of
  tests/analysers/test_hair_dye.py (8 faces x 4 hue turns of the hair only), and of the
  final (0.6 geometric + 0.4 attractiveness) with the attractiveness of the shipped
  model (faceres), the dlib-only model shipped before it and the London model;
* test-retest: p95 |change| over the `aurum.tools.retest` subset (40 faces x jpeg85,
  resize80, crop3, gamma09: 160 pairs, the figure tests/tools/test_retest.py asserts),
  and the mirror image's mean change;
* meaning: Pearson r with the shipped geometric score over the 257 shared SFHQ faces
  and London's 102 neutral fronts, the mean and SD there, and by sex and ethnicity.

Run: .venv/bin/python scripts/geohair_collect.py, then this (add --groups for the
per-group table, --masked FILE for `geohair_collect.py --masked`'s landmarks).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aurum.config import Config  # noqa: E402
from aurum.measure import geometric_components as gc  # noqa: E402
from aurum.measure import geometry  # noqa: E402
from aurum.measure import landmark_names as ln  # noqa: E402
from aurum.measure.pose import frontalise  # noqa: E402
from aurum.paths import shared_dir  # noqa: E402

BLEND = 0.6
DATA = Path("/tmp/geohair/passes.npz")
ALT_ATTR = Path("/tmp/geohair/attr_alt.npz")  # geohair_collect.py --attr
# Points next to the hair: the face oval, and the forehead and temple points the dye moves
# more than 3x their test-retest (measured on the 32 dye pairs: 0.6-1.0 % of the IPD).
FOREHEAD = (151, 108, 337, 69, 299, 104, 333, 68, 298, 71, 301, 139, 368, 34, 264, 9, 107,
            336, 66, 296, 105, 334, 63, 293, 70, 300, 8)

Measures = dict[str, float]
Variant = Callable[[int], Measures]  # image index -> measures


def load(path: Path = DATA) -> dict:
    z = np.load(path)
    d = {"keys": [str(k) for k in z["keys"]], "lm": z["landmarks"], "passes": z["passes"],
         "attr": {"faceres (shipped)": z["attractiveness"]}}
    if ALT_ATTR.is_file():
        a = np.load(ALT_ATTR)
        alt = dict(zip([str(k) for k in a["keys"]], a["vals"], strict=True))
        for model in ("appearance", "london"):
            d["attr"][model] = np.array([alt.get(f"{model}/{k}", np.nan) for k in d["keys"]])
    d["front"] = np.array([frontalise(x) for x in d["lm"]])
    return d


def groups(keys: list[str]) -> dict[str, list[str]]:
    """Sex and ethnicity of each population face (SFHQ manifest, London info)."""
    with open(shared_dir() / "faces" / "MANIFEST.csv") as f:
        sfhq = {r["file"][:-4]: r for r in csv.DictReader(f)}
    with open(shared_dir() / "london" / "london_faces_info.csv") as f:
        lon = {r["face_id"]: r for r in csv.DictReader(f)}
    sex, eth = [], []
    for k in keys:
        _, folder, stem = k.split("/")
        if folder == "neutral_front":
            r = lon[f"X{stem[:3]}"]
            sex.append("london " + r["face_sex"])
            eth.append("london " + r["face_eth"])
        else:
            r = sfhq[stem]
            sex.append("sfhq " + r["apparent_sex"])
            q = r["query_label"]
            eth.append("sfhq " + (q.replace("typical adult ", "") if q.startswith("typical adult")
                                  else "other rows"))
    return {"sex": sex, "eth": eth}


def scores(meas: list[Measures], cfg: Config) -> np.ndarray:
    names = list(cfg.components)
    vals = np.array([[m[n] for n in names] for m in meas])
    return geometry.component_scores(vals, names, cfg)[1]


def _dye_pairs(data: dict) -> list[tuple[int, int]]:
    idx = {k: i for i, k in enumerate(data["keys"])}
    return [(idx[k], idx[k.rsplit("/", 1)[0] + "/0"]) for k in data["keys"]
            if k.startswith("dye/") and not k.endswith("/0")]


def evaluate(data: dict, variant: Variant, cfg: Config, old: np.ndarray | None = None
             ) -> dict:
    keys = data["keys"]
    geo = scores([variant(i) for i in range(len(keys))], cfg)
    idx = {k: i for i, k in enumerate(keys)}
    dye = [(idx[k], idx[k.rsplit("/", 1)[0] + "/0"]) for k in keys
           if k.startswith("dye/") and not k.endswith("/0")]
    out = {"geo": geo, "dye_geo": np.array([abs(geo[i] - geo[b]) for i, b in dye])}
    for model, attr in data["attr"].items():
        out[f"final {model}"] = np.array([abs(BLEND * (geo[i] - geo[b])
                                              + (1 - BLEND) * (attr[i] - attr[b])) for i, b in dye])
    rt = [(idx[k], idx[k.rsplit("/", 1)[0] + "/original"]) for k in keys
          if k.startswith("retest/") and not k.endswith("/original")]
    change = np.array([abs(geo[i] - geo[b]) for i, b in rt])
    mirrored = np.array([keys[i].endswith("/mirror") for i, _ in rt])
    out["retest"], out["mirror"] = change[~mirrored], change[mirrored]
    pop = np.array([i for i, k in enumerate(keys) if k.startswith("pop/")])
    out["pop"] = geo[pop]
    out["r_old"] = np.corrcoef(old[pop], geo[pop])[0, 1] if old is not None else 1.0
    return out


def show(name: str, r: dict) -> None:
    finals = "  ".join(f"{m.split()[1]} {np.percentile(v, 95):.2f}" for m, v in r.items()
                       if m.startswith("final"))
    print(f"{name:<44} dye geo p95 {np.percentile(r['dye_geo'], 95):.2f} "
          f"(max {r['dye_geo'].max():.2f}) | final p95 {finals} | retest p95 "
          f"{np.percentile(r['retest'], 95):.2f} mirror {r['mirror'].mean():.2f} | pop "
          f"{r['pop'].mean():.1f}±{r['pop'].std(ddof=1):.1f} r_old {r['r_old']:.3f}", flush=True)


def by_group(r: dict, grp: dict) -> None:
    for kind in ("sex", "eth"):
        labels = np.array(grp[kind])
        parts = []
        for g in sorted(set(labels)):
            x = r["pop"][labels == g]
            sd = x.std(ddof=1) if len(x) > 1 else 0.0
            parts.append(f"{g} {x.mean():.1f}±{sd:.1f} (n {len(x)})")
        print("   ", "; ".join(parts))


def config_with(cfg: Config, changes: dict[str, tuple[float, float, float]]) -> Config:
    """A copy of `cfg` with (ideal, tolerance, weight) replaced for some components."""
    out = Config()
    for n, c in cfg.components.items():
        out.components[n] = replace(c)
    for n, (ideal, tol, weight) in changes.items():
        out.components[n] = replace(out.components[n], ideal=ideal, tolerance=tol, weight=weight)
    return out


# ---------------------------------------------------------------- variants


def shipped(data: dict) -> Variant:
    return lambda i: geometry.measure(data["front"][i])


def passes(data: dict, how: str) -> Variant:
    def v(i: int) -> Measures:
        p = data["passes"][i]
        lm = (np.nanmedian(p, axis=0) if how == "median" else np.nanmean(p[2:], axis=0)
              if how == "canonical" else np.nanmean(p[:2], axis=0))
        return geometry.measure(frontalise(lm))
    return v


def three_d(data: dict) -> Variant:
    """Every distance in 3-D (the mesh's z included), the ideals as they are."""
    def d3(p: np.ndarray, a: int, b: int) -> float:
        return float(np.linalg.norm(p[a] - p[b]))

    def v(i: int) -> Measures:
        saved, gc._d = gc._d, d3
        try:
            return geometry.measure(data["front"][i])
        finally:
            gc._d = saved
    return v


def _norm(f: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    c = f[good].mean(axis=0)
    x = f - c
    return x, c, float(np.sqrt((x[good] ** 2).sum(axis=1).mean()))


class OvalModel:
    """The points next to the hair predicted from the others: similarity Procrustes on
    the stable points, their first k principal components, a least-squares map to the
    hair-side points (fitted on the population's frontalised shapes)."""

    def __init__(self, shapes: np.ndarray, bad: np.ndarray, k: int) -> None:
        self.bad = bad
        self.good = np.array([i for i in range(468) if i not in set(bad.tolist())])
        xs = []
        for f in shapes:
            x, _, s = _norm(f, self.good)
            xs.append(x / s)
        xs = np.array(xs)
        self.mean = xs[:, self.good].mean(axis=0)
        for j in range(len(xs)):
            xs[j] = xs[j] @ self._rot(xs[j])
        g = xs[:, self.good].reshape(len(xs), -1)
        b = xs[:, bad].reshape(len(xs), -1)
        self.gm, self.bm = g.mean(axis=0), b.mean(axis=0)
        self.p = np.linalg.svd(g - self.gm, full_matrices=False)[2][:k]
        z = (g - self.gm) @ self.p.T
        self.w = np.linalg.lstsq(z, b - self.bm, rcond=None)[0]

    def _rot(self, x: np.ndarray) -> np.ndarray:
        u, _, vt = np.linalg.svd(x[self.good].T @ self.mean)
        return u @ vt

    def apply(self, f: np.ndarray, alpha: float) -> np.ndarray:
        x, c, s = _norm(f[:, :2], self.good)
        r = self._rot(x / s)
        xr = (x / s) @ r
        pred = (self.bm + ((xr[self.good].reshape(-1) - self.gm) @ self.p.T) @ self.w)
        xr[self.bad] = alpha * xr[self.bad] + (1 - alpha) * pred.reshape(-1, 2)
        out = f.copy()
        out[:, :2] = (xr @ r.T) * s + c
        return out


def oval_model(data: dict, bad: tuple[int, ...], k: int, alpha: float) -> Variant:
    """Pop faces get a model fitted without their tenth (10-fold), the rest the full fit."""
    keys = data["keys"]
    pop = [i for i, key in enumerate(keys) if key.startswith("pop/")]
    shapes = data["front"][:, :, :2]
    bad_a = np.array(sorted(set(bad)))
    full = OvalModel(shapes[pop], bad_a, k)
    model_of = {}
    for fold in range(10):
        test = pop[fold::10]
        m = OvalModel(shapes[[p for p in pop if p not in set(test)]], bad_a, k)
        model_of.update({t: m for t in test})
    return lambda i: geometry.measure(model_of.get(i, full).apply(data["front"][i], alpha))


def oracle(data: dict, points: tuple[int, ...]) -> Variant:
    """Not implementable (it needs the undyed photo): each dyed face's `points` replaced by
    the undyed face's, aligned on the other points. The bound on any fix of those points."""
    keys = data["keys"]
    idx = {k: i for i, k in enumerate(keys)}
    pts = np.array(sorted(set(points)))
    inner = np.array([i for i in range(468) if i not in set(points)])

    def v(i: int) -> Measures:
        k = keys[i]
        f = data["front"][i]
        if not k.startswith("dye/") or k.endswith("/0"):
            return geometry.measure(f)
        o = data["front"][idx[k.rsplit("/", 1)[0] + "/0"]]
        a, b = f[:, :2], o[:, :2]
        ma, mb = a[inner].mean(axis=0), b[inner].mean(axis=0)
        u, s, vt = np.linalg.svd((b[inner] - mb).T @ (a[inner] - ma))
        scale = s.sum() / ((b[inner] - mb) ** 2).sum()
        g = f.copy()
        g[pts, :2] = ((b - mb) @ (u @ vt) * scale + ma)[pts]
        return geometry.measure(g)
    return v


def height_from(data: dict, top: int) -> Variant:
    """Face height from `top` (a midline point below the forehead's top) to the menton."""
    def v(i: int) -> Measures:
        f = data["front"][i]
        m = geometry.measure(f)
        h = f[top, 1] - f[ln.MENTON, 1]
        pupil = (f[ln.IRIS_L, 1] + f[ln.IRIS_R, 1]) / 2
        mouth = (f[ln.MOUTH_L, 1] + f[ln.MOUTH_R, 1] + f[ln.STOMION_UP, 1]
                 + f[ln.STOMION_LO, 1]) / 4
        m["pupil_mouth_face_ratio"] = (pupil - mouth) / h
        m["face_height_width_ratio"] = h / np.hypot(*(f[ln.CHEEK_R, :2] - f[ln.CHEEK_L, :2]))
        return m
    return v


def recalibrated(data: dict, variant: Variant, cfg: Config, names: list[str]) -> Config:
    """The reference-median components' ideal re-taken as the population median of the
    new values, and the tolerance kept at the same share of the population SD."""
    pop = [i for i, k in enumerate(data["keys"]) if k.startswith("pop/")]
    new = np.array([[variant(i)[n] for n in names] for i in pop])
    old = np.array([[geometry.measure(data["front"][i])[n] for n in names] for i in pop])
    return config_with(cfg, {n: (float(np.median(new[:, j])),
                                 cfg.components[n].tolerance * new[:, j].std() / old[:, j].std(),
                                 cfg.components[n].weight) for j, n in enumerate(names)})


def components(data: dict, cfg: Config) -> None:
    """Per component: its share of the dye change and of the retest change (mean |weighted
    sub-score change|, score points), and its population spread against its tolerance."""
    names = list(cfg.components)
    keys = data["keys"]
    idx = {k: i for i, k in enumerate(keys)}
    vals = np.array([[geometry.measure(f)[n] for n in names] for f in data["front"]])
    sub = geometry.component_scores(vals, names, cfg)[0]
    w = np.array([cfg.components[n].weight for n in names])
    w = w / w.sum()
    dye = np.array([(sub[idx[k]] - sub[idx[k.rsplit("/", 1)[0] + "/0"]]) * w for k in keys
                    if k.startswith("dye/") and not k.endswith("/0")])
    rt = np.array([(sub[idx[k]] - sub[idx[k.rsplit("/", 1)[0] + "/original"]]) * w
                   for k in keys if k.startswith("retest/")
                   and not k.endswith(("/original", "/mirror"))])
    pop = np.array([i for i, k in enumerate(keys) if k.startswith("pop/")])
    print(f"{'component':<26}{'dye |d|':>8}{'max':>6}{'retest |d|':>11}{'pop median':>11}"
          f"{'pop SD':>8}{'tol':>7}{'SD/tol':>7}")
    for j, n in enumerate(names):
        c = cfg.components[n]
        sd = vals[pop, j].std(ddof=1)
        print(f"{n:<26}{np.abs(dye[:, j]).mean():>8.2f}{np.abs(dye[:, j]).max():>6.2f}"
              f"{np.abs(rt[:, j]).mean():>11.2f}{np.median(vals[pop, j]):>11.4g}{sd:>8.3g}"
              f"{c.tolerance:>7.3g}{sd / c.tolerance:>7.2f}")


DISTANCES = {"nose width 102-331": (102, 331), "nose width 48-278": (48, 278),
             "nose width 129-358": (129, 358), "inner canthi 133-362": (133, 362),
             "mouth 61-291": (61, 291), "zygion 234-454": (234, 454),
             "227-447 (inside zygion)": (227, 447), "jaw 58-288": (58, 288),
             "height 10-152": (10, 152), "height 151-152": (151, 152),
             "height 9-152": (9, 152), "height 168-152": (168, 152)}


def distances(data: dict) -> None:
    """Mean |relative change| (%) of distances over the pupil distance: dye vs retest."""
    keys = data["keys"]
    idx = {k: i for i, k in enumerate(keys)}
    f = data["front"]

    def rel(i: int, b: int, p: int, q: int) -> float:
        def r(x: np.ndarray) -> float:
            return float(np.hypot(*(x[p, :2] - x[q, :2])) / np.hypot(*(x[468, :2] - x[473, :2])))
        return 100 * (r(f[i]) / r(f[b]) - 1)

    dye = [(idx[k], idx[k.rsplit("/", 1)[0] + "/0"]) for k in keys
           if k.startswith("dye/") and not k.endswith("/0")]
    rt = [(idx[k], idx[k.rsplit("/", 1)[0] + "/original"]) for k in keys
          if k.startswith("retest/") and not k.endswith(("/original", "/mirror"))]
    print(f"{'distance / pupil distance':<26}{'dye mean |%|':>13}{'signed':>8}{'retest |%|':>11}")
    for name, (p, q) in DISTANCES.items():
        d = np.array([rel(i, b, p, q) for i, b in dye])
        t = np.array([rel(i, b, p, q) for i, b in rt])
        print(f"{name:<26}{np.abs(d).mean():>13.2f}{d.mean():>+8.2f}{np.abs(t).mean():>11.2f}")


def variants(data: dict, cfg: Config) -> list[tuple[str, Variant, Config]]:
    """Every option measured, with the config it is scored under."""
    rows: list[tuple[str, Variant, Config]] = [
        ("mesh passes: median of 8", passes(data, "median"), cfg),
        ("mesh passes: the 6 canonical only", passes(data, "canonical"), cfg),
        ("3-D distances", three_d(data), cfg),
    ]
    for bad, label in ((ln.FACE_OVAL, "oval"), (ln.FACE_OVAL + FOREHEAD, "oval+forehead")):
        for k in (8, 40):
            rows.append((f"shape model: {label} from inner, k={k}", oval_model(data, bad, k, 0.0),
                         cfg))
        rows.append((f"shape model: {label} 50/50 blend, k=8", oval_model(data, bad, 8, 0.5),
                     cfg))
    for top in (151, 9, 168):
        v = height_from(data, top)
        rows.append((f"face height from {top} (recalibrated)", v, recalibrated(
            data, v, cfg, ["pupil_mouth_face_ratio", "face_height_width_ratio"])))
    names = list(cfg.components)
    pop = [i for i, k in enumerate(data["keys"]) if k.startswith("pop/")]
    sd = np.array([[geometry.measure(data["front"][i])[n] for n in names] for i in pop]).std(0)
    for c in (1.25, 1.5):
        rows.append((f"every tolerance = {c} x population SD", shipped(data), config_with(
            cfg, {n: (cfg.components[n].ideal, c * sd[j], cfg.components[n].weight)
                  for j, n in enumerate(names) if n != "symmetry_index"})))
    rows.append(("pupil_mouth_face tolerance 0.03", shipped(data), config_with(
        cfg, {"pupil_mouth_face_ratio": (0.41, 0.03, 1.0)})))
    nose = ("nose_face_ratio", "nose_intercanthal_ratio", "mouth_nose_ratio")
    rows.append(("BOUND: the 3 nose-width components weight 0", shipped(data), config_with(
        cfg, {n: (cfg.components[n].ideal, cfg.components[n].tolerance, 0.0) for n in nose})))
    rows.append(("BOUND: oracle, undyed oval", oracle(data, ln.FACE_OVAL), cfg))
    rows.append(("BOUND: oracle, undyed oval+forehead", oracle(data, ln.FACE_OVAL + FOREHEAD),
                 cfg))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", action="store_true")
    ap.add_argument("--masked", nargs="*", default=[])
    args = ap.parse_args()
    data = load()
    cfg = Config()
    grp = groups([k for k in data["keys"] if k.startswith("pop/")])
    components(data, cfg)
    distances(data)
    base = evaluate(data, shipped(data), cfg)
    old = base["geo"]
    show("shipped", base)
    by_group(base, grp) if args.groups else None
    for name, variant, c in variants(data, cfg):
        r = evaluate(data, variant, c, old)
        show(name, r)
        by_group(r, grp) if args.groups else None
    dyed, undyed = (np.array(x) for x in zip(*_dye_pairs(data), strict=True))
    print("BOUND: a geometric score that never moves: final p95 " + "  ".join(
        f"{k.split()[0]} {np.percentile(np.abs((1 - BLEND) * (a[dyed] - a[undyed])), 95):.2f}"
        for k, a in data["attr"].items()))
    for path in args.masked:
        m = load(Path(path))
        m["attr"] = data["attr"]  # same images, same order; the attractiveness is unchanged
        assert m["keys"] == data["keys"]
        for label, variant in (("8 passes", shipped(m)), ("canonical 6", passes(m, "canonical"))):
            r = evaluate(m, variant, cfg, old)
            show(f"{Path(path).stem} surround, {label}", r)
            by_group(r, grp) if args.groups else None


if __name__ == "__main__":
    main()
