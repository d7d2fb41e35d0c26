"""Training code: heads on frozen features, augmentation, export to ONNX.

Nothing here runs at scan time; detectors load what training exported. Training needs the extra
packages named by each trainer (scikit-learn and onnx for :mod:`synthwatch.train.image`).
"""
