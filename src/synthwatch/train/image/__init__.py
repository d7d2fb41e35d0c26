"""Training of ``sw-image``, synthwatch's own AI-generated-image detector.

One command trains, selects, calibrates, measures and exports it (see ``docs/models/sw-image.md``)::

    python -m synthwatch.train.image train --data ../shared/data/images/real-or-ai-game \\
        --out src/synthwatch/models/weights/sw-image --card src/synthwatch/models/cards/sw-image.yaml

Modules: :mod:`.data` (sources, de-duplication, groups, splits), :mod:`.hardneg` (processed
versions: hard negatives), :mod:`.features` (cached feature extraction), :mod:`.head` (fitting and
ONNX export), :mod:`.train` (the protocol), :mod:`.robustness` (the evaluation harness under
perturbations, and speed), :mod:`.card` (the model card from measured figures).
"""
