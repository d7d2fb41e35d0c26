"""Errors raised by :mod:`synthwatch.provenance`, rooted in the core tree.

::

    SynthwatchError
    └── ProvenanceError               anything wrong while reading or writing provenance
        ├── LabelError                an implicit (AIGC) label that cannot be read as one
        │   ├── LabelEncodingError    the label or its XMP packet is not valid UTF-8
        │   ├── LabelTooLarge         over the size cap for a label or an XMP packet
        │   └── DuplicateLabel        more than one label in one file (reading)
        ├── UnsafeXML                 DTD, entity declarations, too deep nesting, or malformed XMP
        ├── LabelWriteError           a write failed or did not read back as written
        │   └── TranscodeError        re-encoding for a visible/audible label failed
        ├── SecurityDataError         a SecurityData block cannot be made (bad or missing SM2 key)
        └── UnsupportedCarrier        the format has no label carrier (also a MediaError)
    (CorruptMedia)
    └── CorruptContainer              a container too broken to carry a label (also a ProvenanceError)

Every error carries a stable ``code`` for reports and JSON output.
"""

from __future__ import annotations

from synthwatch.errors import CorruptMedia, SynthwatchError, UnsupportedMedia

__all__ = [
    "ProvenanceError",
    "LabelError",
    "LabelEncodingError",
    "LabelTooLarge",
    "DuplicateLabel",
    "UnsafeXML",
    "LabelWriteError",
    "UnsupportedCarrier",
    "CorruptContainer",
    "TranscodeError",
    "SecurityDataError",
]


class ProvenanceError(SynthwatchError):
    code = "provenance_error"


class LabelError(ProvenanceError):
    """The bytes found where a label lives are not a readable AIGC label."""

    code = "label_invalid"


class LabelEncodingError(LabelError):
    code = "label_encoding"


class LabelTooLarge(LabelError):
    code = "label_too_large"

    def __init__(self, message: str, *, size: int = 0, maximum: int = 0) -> None:
        super().__init__(message)
        self.size = size
        self.maximum = maximum


class DuplicateLabel(LabelError):
    code = "label_duplicate"

    def __init__(self, message: str, *, count: int = 0) -> None:
        super().__init__(message)
        self.count = count


class UnsafeXML(ProvenanceError):
    code = "xml_unsafe"


class LabelWriteError(ProvenanceError):
    code = "label_write"


class TranscodeError(LabelWriteError):
    """Decoding, drawing or re-encoding a labelled copy failed (the source may still be fine)."""

    code = "label_transcode"


class SecurityDataError(ProvenanceError):
    """A SecurityData block cannot be produced: no signing key, or a key that is not SM2."""

    code = "security_data"


class UnsupportedCarrier(ProvenanceError, UnsupportedMedia):
    code = "label_unsupported_format"


class CorruptContainer(ProvenanceError, CorruptMedia):
    code = "label_corrupt_container"
