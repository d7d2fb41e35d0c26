"""The whole synthwatch exception tree, in one place.

::

    SynthwatchError
    ├── ConfigError                 bad settings or arguments
    ├── MediaError                  anything wrong with an input
    │   ├── UnsupportedMedia        not a type we handle (magic bytes decide, never the extension)
    │   ├── CorruptMedia            truncated, malformed, undecodable
    │   ├── MediaTooLarge           over a configured limit (bytes, duration, pixels, frames)
    │   ├── DecodeTimeout           the sandboxed decoder ran past its wall-clock limit
    │   │   └── ScanTimeout         the whole scan of one item ran past its time limit
    │   └── DecodeResourceError     the sandboxed decoder hit its memory cap or died
    ├── ModelError                  anything wrong with a model
    │   ├── ModelNotInstalled       not in the store; the message says how to get it
    │   │   └── UnknownModel        no card of that name exists at all
    │   ├── ModelIntegrityError     sha256 mismatch on download or load
    │   ├── ModelDownloadError      a pull failed (network, HTTP status, refused URL)
    │   ├── ModelConversionError    a checkpoint could not be converted to ONNX
    │   └── ModelLoadError          ONNX Runtime refused the file
    ├── DetectorError               a detector failed on valid input
    │   └── UnknownDetector         no detector registered under that name
    └── StreamError                 a live audio stream broke its protocol (has a WebSocket close code)
        ├── StreamFormatError       wrong or unsupported format, malformed message or payload
        ├── StreamFrameTooLarge     one frame longer than the protocol allows
        ├── StreamFlood             audio faster than real time, or too many messages
        └── StreamOverloaded        the monitor holds as many streams as it may

Third-party exceptions are translated at the boundary with ``raise ... from exc``.
The CLI maps this tree to exit codes in :mod:`synthwatch.cli` and nowhere else.
"""

from __future__ import annotations

__all__ = [
    "SynthwatchError",
    "ConfigError",
    "MediaError",
    "UnsupportedMedia",
    "CorruptMedia",
    "MediaTooLarge",
    "DecodeTimeout",
    "ScanTimeout",
    "DecodeResourceError",
    "ModelError",
    "ModelNotInstalled",
    "UnknownModel",
    "ModelIntegrityError",
    "ModelDownloadError",
    "ModelConversionError",
    "ModelLoadError",
    "DetectorError",
    "UnknownDetector",
    "StreamError",
    "StreamFormatError",
    "StreamFrameTooLarge",
    "StreamFlood",
    "StreamOverloaded",
]


class SynthwatchError(Exception):
    """Root of every error synthwatch raises on purpose."""

    #: short machine-readable code, stable across versions (used in reports and JSON output)
    code = "error"


class ConfigError(SynthwatchError):
    code = "config_error"


class MediaError(SynthwatchError):
    code = "media_error"


class UnsupportedMedia(MediaError):
    code = "unsupported_media"


class CorruptMedia(MediaError):
    code = "corrupt_media"


class MediaTooLarge(MediaError):
    code = "media_too_large"

    def __init__(self, message: str, *, limit: str = "", value: float | int | None = None,
                 maximum: float | int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.maximum = maximum


class DecodeTimeout(MediaError):
    code = "decode_timeout"


class ScanTimeout(DecodeTimeout):
    """The whole scan of one item (decoding, analysis and provenance) ran past its time limit
    (``Limits.scan_timeout_s``, the CLI's ``--timeout``, a service request's limit)."""

    code = "scan_timeout"


class DecodeResourceError(MediaError):
    code = "decode_resource"


class ModelError(SynthwatchError):
    code = "model_error"


class ModelNotInstalled(ModelError):
    code = "model_not_installed"

    def __init__(self, name: str, hint: str = "") -> None:
        msg = f"model {name!r} is not installed"
        if hint:
            msg += f"; install it with: {hint}"
        super().__init__(msg)
        self.name = name
        self.hint = hint


class UnknownModel(ModelNotInstalled):
    code = "unknown_model"

    def __init__(self, name: str) -> None:
        ModelError.__init__(self, f"no model named {name!r} is known to synthwatch "
                                  "(see `synthwatch models list`)")
        self.name = name
        self.hint = "synthwatch models list"


class ModelIntegrityError(ModelError):
    code = "model_integrity"


class ModelDownloadError(ModelError):
    code = "model_download"


class ModelConversionError(ModelError):
    code = "model_conversion"


class ModelLoadError(ModelError):
    code = "model_load"


class DetectorError(SynthwatchError):
    code = "detector_error"


class UnknownDetector(DetectorError):
    code = "unknown_detector"


class StreamError(SynthwatchError):
    """A live audio stream broke its protocol. ``close_code`` is the WebSocket close code (RFC 6455
    section 7.4) a transport ends the connection with."""

    code = "stream_error"
    close_code = 1008


class StreamFormatError(StreamError):
    code = "stream_format"
    close_code = 1007  # the payload is inconsistent with the declared format

    def __init__(self, message: str, *, close_code: int | None = None) -> None:
        super().__init__(message)
        if close_code is not None:
            self.close_code = close_code


class StreamFrameTooLarge(StreamError):
    code = "stream_frame_too_large"
    close_code = 1009


class StreamFlood(StreamError):
    code = "stream_flood"
    close_code = 1008


class StreamOverloaded(StreamError):
    code = "stream_overloaded"
    close_code = 1013  # try again later
