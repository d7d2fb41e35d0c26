"""Training data from public git repositories pinned by commit (see :mod:`.sources`).

``python -m synthwatch.train.data fetch-manifest`` hashes every selected file at its pinned commit
and writes the committed manifest (``docs/manifests/train-<task>.csv``); ``build`` re-reads exactly
those files (sha256 checked) and writes a normalised training set. Nothing fetched is committed:
only the manifest.
"""
