"""Test support that ships with synthwatch. Nothing here is used by a scan unless a caller names it.

* :mod:`.detectors` - model-free debug detectors for fast pipeline, service and stream tests.
* :mod:`.samples` - deterministic generated media (images, speech-like audio, videos with a drawn
  face); ``synthwatch samples DIR`` writes a demo set with it.
* :mod:`.faces` - the drawn frontal face that real face detectors find.
* :mod:`.hostile` - corrupt, truncated, mislabelled and oddly named media.

The runtime packages (media, models, detectors, faces, provenance, pipeline) never import this one.
"""
