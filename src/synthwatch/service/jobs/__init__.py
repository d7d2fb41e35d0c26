"""Background work: the scan job (``scan_job``), retention (``maintenance``), the worker process
(``worker``) and the supervisor that runs N of them (``supervisor``). Jobs are plain functions over
the storage interfaces, callable from tests."""
