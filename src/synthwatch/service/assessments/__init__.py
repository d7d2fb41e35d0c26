"""Security self-assessments in the service (issue 16): the evidence source over the database
(:mod:`.source`) and the assessment workflow (:mod:`.workflow`: create, collect, remediate,
finalise), shared by ``/v1/assessments`` and ``synthwatch assess``."""
