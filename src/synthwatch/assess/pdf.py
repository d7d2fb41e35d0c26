"""The report as PDF, printed from its HTML by WeasyPrint (extra ``[pdf]``; needs the Pango
library: Debian ``libpango-1.0-0 libpangoft2-1.0-0``). WeasyPrint may fetch nothing: the report's
pictures are ``data:`` URLs and every other URL is refused."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

__all__ = ["render_pdf", "pdf_available"]

_HINT = "PDF output needs WeasyPrint and Pango: pip install 'synthwatch[pdf]' and apt install libpango-1.0-0 libpangoft2-1.0-0"


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango shared library is missing
        raise ConfigError(f"{_HINT} ({type(exc).__name__}: {exc})") from exc
    return weasyprint


def pdf_available() -> bool:
    try:
        _weasyprint()
    except ConfigError:
        return False
    return True


def render_pdf(html: str) -> bytes:
    """The PDF of a report's HTML (A4, the page's print styles)."""
    wp = _weasyprint()
    try:
        from weasyprint.urls import URLFetcher

        fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)  # nothing but data: URLs
        out = wp.HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf()
    except Exception as exc:  # noqa: BLE001  (WeasyPrint raises many kinds; the report is ours)
        raise ConfigError(f"the report could not be printed to PDF: {type(exc).__name__}: {exc}") from exc
    assert isinstance(out, bytes)
    return out
