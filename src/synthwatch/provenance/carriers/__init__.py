"""Per-container readers and writers of the metadata that carries provenance.

Each module works on bytes or on a file and knows nothing of labels beyond the text it carries:
label policy lives in :mod:`synthwatch.provenance.aigc_label`.
"""
