"""Outbound HTTP with an SSRF guard, for URL scans and webhook deliveries.

* ``http`` and ``https`` only; no credentials in the URL.
* The host is resolved once per hop and *every* address it resolves to must be public: loopback,
  private (RFC 1918, ULA), link-local (cloud metadata at 169.254.169.254 included), shared
  (100.64/10), multicast, reserved and unspecified addresses are refused unless an entry of
  ``fetch_allow`` (a network or a host name) allows them. The connection goes to the address that
  was checked (no second lookup that DNS rebinding could change); TLS still verifies the host name.
* Redirects are followed by hand, at most ``max_redirects``, each target checked again.
* A size cap (Content-Length and the bytes actually read) and a wall-clock cap on the whole
  exchange, redirects included.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from .. import __version__

__all__ = ["FetchError", "FetchPolicy", "Response", "request", "check_url_syntax"]

USER_AGENT = f"synthwatch/{__version__}"
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """``code``: ``url_refused`` (scheme, credentials, address), ``fetch_failed`` (connection, TLS,
    HTTP status), ``fetch_too_large``, ``fetch_timeout``, ``fetch_redirects``."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class FetchPolicy:
    allow: tuple[str, ...] = ()
    max_bytes: int = 512 * 1024 * 1024
    timeout_s: float = 60.0
    max_redirects: int = 5
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(init=False)
    hosts: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        nets, hosts = [], set()
        for entry in self.allow:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        object.__setattr__(self, "networks", tuple(nets))
        object.__setattr__(self, "hosts", frozenset(hosts))

    def address_allowed(self, host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if host.lower().rstrip(".") in self.hosts or any(ip in n for n in self.networks):
            return True
        return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                    or ip.is_unspecified or ip in _SHARED or not ip.is_global)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    url: str
    body: bytes = b""
    size: int = 0


def check_url_syntax(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, else :class:`FetchError` ``url_refused``."""
    if len(url) > 4096:
        raise FetchError("url_refused", "the URL is longer than 4096 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("url_refused", f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError("url_refused", "only http and https URLs are fetched")
    if parts.username or parts.password:
        raise FetchError("url_refused", "URLs with credentials are refused")
    host = parts.hostname
    if not host:
        raise FetchError("url_refused", "the URL has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def _resolve(host: str, port: int, policy: FetchPolicy, deadline: float) -> str:
    try:
        literal = ipaddress.ip_address(host)
        infos = [str(literal)]
    except ValueError:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError("fetch_failed", f"cannot resolve {host!r}: {exc}") from None
        infos = list(dict.fromkeys(str(i[4][0]) for i in found))
    if time.monotonic() > deadline:
        raise FetchError("fetch_timeout", "the fetch ran past its time limit")
    if not infos:
        raise FetchError("fetch_failed", f"{host!r} resolves to no address")
    for addr in infos:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if not policy.address_allowed(host, ip):
            raise FetchError("url_refused", f"{host!r} resolves to {ip}, a non-public address "
                             "(loopback, private, link-local, metadata or reserved) that is not allow-listed")
    return infos[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def request(method: str, url: str, policy: FetchPolicy, *, body: bytes | None = None,
            headers: dict[str, str] | None = None, sink: Callable[[bytes], None] | None = None,
            follow_redirects: bool = True) -> Response:
    """One guarded HTTP exchange. The response body goes to ``sink`` chunk by chunk when given
    (``Response.body`` stays empty), else into ``Response.body``; either way at most
    ``policy.max_bytes``. Any status is returned (the caller decides what is an error)."""
    deadline = time.monotonic() + policy.timeout_s
    redirects = 0
    while True:
        scheme, host, port = check_url_syntax(url)
        ip = _resolve(host, port, policy, deadline)
        remaining = max(0.05, deadline - time.monotonic())
        conn: http.client.HTTPConnection = (_PinnedHTTPS if scheme == "https" else _PinnedHTTP)(
            host, port, ip, timeout=min(remaining, 30.0))
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        hdrs = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
        try:
            conn.request(method, target, body=body, headers=hdrs)
            resp = conn.getresponse()
            if follow_redirects and resp.status in _REDIRECTS and resp.getheader("Location"):
                location = resp.getheader("Location") or ""
                resp.close()
                redirects += 1
                if redirects > policy.max_redirects:
                    raise FetchError("fetch_redirects", f"more than {policy.max_redirects} redirects")
                url = urljoin(url, location)
                if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                continue
            return _read(resp, url, policy, deadline, sink)
        except FetchError:
            raise
        except TimeoutError as exc:
            raise FetchError("fetch_timeout", f"no answer from {host} within the time limit") from exc
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            raise FetchError("fetch_failed", f"request to {host} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()


def _read(resp: Any, url: str, policy: FetchPolicy, deadline: float, sink: Callable[[bytes], None] | None) -> Response:
    headers = {k.lower(): v for k, v in resp.getheaders()}
    length = headers.get("content-length")
    if length and length.isdigit() and int(length) > policy.max_bytes:
        raise FetchError("fetch_too_large", f"the response announces {length} bytes, over the limit of "
                         f"{policy.max_bytes}")
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise FetchError("fetch_timeout", "the download ran past its time limit")
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > policy.max_bytes:
            raise FetchError("fetch_too_large", f"the response is over the limit of {policy.max_bytes} bytes")
        if sink is not None:
            sink(chunk)
        else:
            chunks.append(chunk)
    return Response(status=resp.status, headers=headers, url=url, body=b"".join(chunks), size=size)
