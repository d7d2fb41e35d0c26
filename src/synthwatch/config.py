"""Settings (pydantic-settings, env prefix ``SYNTHWATCH_``). Nothing happens at import time:
call :func:`get_settings` or build :class:`Settings` yourself."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Limits", "Sampling", "Settings", "get_settings"]


class Limits(BaseModel):
    """Caps checked before full decoding. Every one is configurable (CLI options, env, code)."""

    max_bytes: int = Field(default=4 * 1024**3, gt=0, description="largest input file, bytes")
    max_duration_s: float = Field(default=4 * 3600.0, gt=0, description="longest audio/video, seconds")
    max_pixels: int = Field(default=80_000_000, gt=0, description="pixels per image or video frame")
    max_frames: int = Field(default=20_000, gt=0, description="most frames sampled from one video")
    decode_timeout_s: float = Field(default=600.0, gt=0, description="wall-clock limit for one file's decode")
    scan_timeout_s: float | None = Field(default=None, gt=0, description="wall-clock limit for the whole scan of "
                                         "one file: decoding, analysis and provenance (None: only the per-step "
                                         "limits); every subprocess the scan starts gets at most what is left")
    probe_timeout_s: float = Field(default=30.0, gt=0, description="wall-clock limit for probing one file")
    decode_memory_mb: int = Field(default=2048, gt=64, description="address-space cap of the decoder process")
    transcode_timeout_s: float = Field(default=3600.0, gt=0, description="wall-clock limit for re-encoding one "
                                       "labelled copy (visible notice on video or images, audible cue)")
    transcode_memory_mb: int = Field(default=4096, gt=64, description="address-space cap of the isolated process "
                                     "that re-encodes a labelled copy (encoders need more than decoders)")


#: the default ``Sampling.frame_token_merging`` (see docs/models/clip-probe.md for how it was chosen)
FRAME_TOKEN_MERGING = 12


class Sampling(BaseModel):
    fps: float = Field(default=1.0, gt=0, description="video frames sampled per second")
    keyframes_only: bool = False
    audio_window_s: float = Field(default=4.0, gt=0, description="audio analysis window, seconds")
    audio_hop_s: float = Field(default=4.0, gt=0, description="hop between audio windows, seconds")
    audio_sample_rate: int = 16_000
    #: token merging (ToMe, pairs merged per transformer block) in the CLIP encoder when *video
    #: frames* are scored by an image detector that supports it (clip-probe); 0 = the exact encoder.
    #: Pictures are always scored exactly. See docs/models/clip-probe.md for speed and agreement.
    frame_token_merging: int = Field(default=FRAME_TOKEN_MERGING, ge=0, le=16,
                                     description="ToMe pairs merged per block for video frames (0 = exact)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTHWATCH_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("synthwatch")))
    limits: Limits = Field(default_factory=Limits)
    sampling: Sampling = Field(default_factory=Sampling)
    #: cap on ONNX Runtime intra-op threads per session (0 = each model's own choice, which for most is
    #: "one per core"); applied by Scanner / Toolkit through synthwatch.models.runtime.set_thread_cap
    threads: int = Field(default=0, ge=0)
    #: detectors used when the caller names none; None = every registered detector marked default
    detectors: list[str] | None = None
    #: PEM file of C2PA trust anchors: a manifest whose signer chains to one is reported "Trusted"
    c2pa_trust_anchors: Path | None = None
    #: whether the C2PA trust lists shipped with synthwatch count (False: only the platform's own list)
    c2pa_shipped_trust: bool = True
    #: a YAML/JSON Art. 6 rule table replacing the shipped one, for every scan and label check
    provenance_rules: Path | None = None

    def c2pa_trust_anchors_pem(self) -> str | None:
        if self.c2pa_trust_anchors is None:
            return None
        from .errors import ConfigError

        try:
            return self.c2pa_trust_anchors.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read C2PA trust anchors {self.c2pa_trust_anchors}: {exc}") from exc

    @property
    def model_dir(self) -> Path:
        return self.home / "models"


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, then apply keyword overrides."""
    return Settings(**overrides)  # type: ignore[arg-type]
