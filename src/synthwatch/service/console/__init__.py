"""The reviewers' console at ``/console`` (server-rendered Jinja2 templates and one stylesheet,
shipped as package data; no script, no front-end build step). See :mod:`.views`."""

from __future__ import annotations

from .views import install, router

__all__ = ["router", "install"]
