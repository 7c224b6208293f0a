"""`python -m aurum build-reference`, step by step: measure the reference faces once
and store numbers.

- `faces`: which photos (ids stable across machines) and their numbers, analysed by
  `Engine.analyze` (the path a user's photo takes) in the worker processes of
  `aurum.tools.workers`, so tens of thousands of photos use every core and only numbers
  stay in memory;
- `fit`: everything decided from those numbers, pure (no images, no engine) so the
  processor-noise tests re-run it on perturbed landmarks: the shape embedding, then
  `clusters` (the number of vibe clusters by silhouette and bootstrap stability, and
  the k-means fit) and `layout` (the 2-D UMAP map and how well the run-time placement
  reproduces it on held-out faces); cluster names come from `aurum.analysers.population`;
- `earlier`: what an earlier build (`--like`) decided, kept where the new figures cannot
  tell it apart, so a rebuild on another processor reproduces the committed artefacts;
- `build`: the command, which writes `reference.npz` (plain arrays, loadable with
  `allow_pickle=False`) and `reference.json` (ids, names, metadata).

No image and no pixel is written. Seeds are fixed, inputs sorted and floats rounded,
so a rebuild on the same inputs is byte-identical and shows no diff.
"""
