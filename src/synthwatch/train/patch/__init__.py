"""Training ``sw-patch``, synthwatch's own fast AI-image detector (``python -m synthwatch.train.patch``).

Data: ``python -m synthwatch.train.data build --task image`` (every picture normalised alike;
generator families and sources held out in the committed manifest). Network: the compact residual
CNN of :mod:`synthwatch.train.face.model` on 128 x 128 native-resolution patches; loop, validation
and calibration: :mod:`.train`; card: :mod:`.card`. Needs the ``[train]`` extra (PyTorch).
"""
