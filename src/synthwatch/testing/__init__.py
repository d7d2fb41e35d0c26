"""Test support that ships with synthwatch: model-free debug detectors (:mod:`.detectors`) for fast
pipeline, service and stream tests. Nothing here is used by a scan unless a caller names it."""
