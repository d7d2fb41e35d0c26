"""Rendering: what people and programs read, kept out of the library's logic.

``text``      byte-exact JSON output and inert display of untrusted text
``tables``    the rows of the CLI's human tables
``timeline``  the per-segment score timeline and face-box picture of a report
``schema``    the JSON Schema of ``synthwatch.report/1``
"""
