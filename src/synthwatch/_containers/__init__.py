"""Hardened readers for the containers synthwatch walks by hand: ISO-BMFF, EBML and RIFF.

One reader per container, shared by media sniffing (:mod:`synthwatch.media.sniff`), the decode
worker (``synthwatch/media/_worker.py``) and the label carriers (:mod:`synthwatch.provenance.carriers`):

* :mod:`.isobmff` - MP4 / MOV / M4A boxes (32- and 64-bit sizes, size 0 = to the end of the parent),
  and :func:`.isobmff.movie_facts` (brands, track handlers, declared durations, truncation);
* :mod:`.ebml` - Matroska / WebM elements (variable-length IDs and sizes, unknown sizes), their
  encoders, and :func:`.ebml.doc_type_and_tracks`;
* :mod:`.riff` - RIFF / RIFX / RF64 chunks (WAV, WebP, AVI; odd sizes padded), and
  :func:`.riff.form`.

The contract every reader keeps, whatever the bytes:

* the only exception raised is :class:`ContainerError` (a :class:`ValueError`); callers translate
  it at their own boundary (``CorruptMedia`` in the media layer, ``CorruptContainer`` in the
  carriers) with ``raise ... from exc``;
* every walk is bounded: a :class:`Budget` of elements per file, an explicit depth where readers
  recurse, and no read larger than what the caller asks for (declared sizes are never used to
  allocate);
* declared sizes are never trusted: a child is clipped to its parent and its ``overrun`` says so;
  strict walks (the carriers, which rewrite files) refuse an overrun instead.

This package is a leaf: standard library only and relative imports only, so that the decode
worker, which never imports the ``synthwatch`` package, can load it by path
(:func:`synthwatch.media._worker.containers`).
"""

from __future__ import annotations

from ._base import Budget, ContainerError, Reader

__all__ = ["Budget", "ContainerError", "Reader"]
