"""Training ``sw-face``, synthwatch's own face-swap detector (``python -m synthwatch.train.face``).

Data: ``python -m synthwatch.train.data build --task face`` (aligned crops of the pinned sources).
Fakes: self-blended images of the real training faces (:mod:`.sbi`) and DeepFaceLive swaps of the
training identities; both classes degraded alike (:mod:`.augment`). Network: :mod:`.model`;
loop, validation and calibration: :mod:`.train`; the model card: :mod:`.card`. Needs the
``[train]`` extra (PyTorch).
"""
