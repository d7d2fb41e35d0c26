"""Live-room settings: ``SYNTHWATCH_ROOMS__<OPTION>`` (e.g. ``SYNTHWATCH_ROOMS__HOP_S=1.0``),
the ``rooms`` section of :class:`~synthwatch.service.settings.ServiceSettings`."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["RoomOptions"]


class RoomOptions(BaseModel):
    # what is scored, and when (synthwatch.stream.MonitorConfig)
    detector: str | None = Field(default=None, description="voice detector (default: the first voice detector of "
                                 "the service's detector list, else the registry's default voice detector, sw-voice)")
    window_s: float | None = Field(default=None, gt=0, description="window length (default: the detector's input)")
    hop_s: float = Field(default=2.0, gt=0, description="a window every this many seconds of a speaker's audio")
    first_window_s: float = Field(default=2.0, gt=0, description="the first window ends this long into a stream")
    smooth_windows: int = Field(default=2, ge=1, description="evidence = mean score of this many last speech windows")
    clear_below: float = Field(default=0.4, ge=0, le=0.5, description="an alert ends when the evidence stays "
                               "below this (threshold = 0.5 on this scale)")
    clear_windows: int = Field(default=2, ge=1)
    run_gap_s: float = Field(default=10.0, gt=0, description="a speech run (its evidence) ends after this long "
                             "without speech")
    threshold: float | None = Field(default=None, gt=0, lt=1, description="alert threshold on the detector's "
                                    "scale (default: its calibrated threshold)")
    # load and backpressure
    analysis_threads: int = Field(default=2, ge=1, le=64)
    max_batch: int = Field(default=32, ge=1, le=512)
    streaming_vad: bool = Field(default=True, description="run the voice-activity model on each open window as "
                                "its audio arrives, all speakers' windows in one batch (the same speech "
                                "decisions as running it on each due window whole, for less CPU)")
    vad_tick_s: float = Field(default=0.25, gt=0, le=2.0, description="how often the open windows' voice "
                              "activity is run on")
    blas_threads: int = Field(default=1, ge=0, le=64, description="BLAS threads of the API process while rooms "
                              "are monitored (0: leave them; idle OpenBLAS threads spin)")
    max_streams: int = Field(default=500, ge=1, description="concurrent speaker streams (more: close 1013)")
    lag_warn_s: float = Field(default=1.5, gt=0, description="a window waiting longer: 'lagging' is sent")
    max_lag_s: float = Field(default=6.0, gt=0, description="a window waiting longer is skipped (counted)")
    max_ahead_s: float = Field(default=5.0, gt=0, description="audio further ahead of real time is a flood")
    max_messages_per_s: int = Field(default=250, ge=10)
    max_outbound_events: int = Field(default=256, ge=16, description="events queued for a slow client before "
                                     "score events are dropped (counted); alerts are never dropped")
    # time-outs
    start_timeout_s: float = Field(default=10.0, gt=0, description="time to send the start message")
    idle_timeout_s: float = Field(default=30.0, gt=0, description="time without any message before closing 4408")
    no_speech_notice_s: float = Field(default=30.0, gt=0, description="send 'no_speech' after this long without")
    no_speech_timeout_s: float = Field(default=3600.0, ge=0, description="close 4408 after this long without "
                                       "speech (0: never)")
    # alerts
    open_cases: bool = Field(default=True, description="alerts open review cases (through the review policy)")
    evidence_picture: bool = Field(default=True, description="draw each alert's timeline picture")
    history_hours: float = Field(default=24.0, gt=0, description="ended streams shown in a room's state")
    # WHIP (WebRTC ingestion; extra [webrtc])
    whip_session_timeout_s: float = Field(default=30.0, gt=0, description="time for a WHIP session to connect")
