"""Read files of a public git repository at a pinned commit, without a work tree.

Training data comes from snapshots of public repositories (a bare or normal clone on this machine).
Files are listed with ``git ls-tree -r -l COMMIT`` and read with one long-running
``git cat-file --batch`` process, so nothing is checked out and nothing from the repository is
executed (no hooks, no filters, no LFS smudging: the blob bytes as stored in the commit).

Where the clones are: :func:`find_snapshot` looks under a root folder for any of the layouts
``ROOT/<owner>+<name>/repo`` (a mirror), ``ROOT/<owner>+<name>``, ``ROOT/<owner>/<name>`` and
``ROOT/<name>``, as a bare repository or a work tree with ``.git``. A clone made with
``git clone https://github.com/<owner>/<name> ROOT/<owner>/<name>`` is found; the commit must be
in it (``git fetch`` it when the clone is shallow).
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError

__all__ = ["TreeEntry", "GitSnapshot", "find_snapshot", "SnapshotError"]


class SnapshotError(ConfigError):
    """A snapshot or a commit or file in it is missing or unreadable."""


@dataclass(frozen=True)
class TreeEntry:
    path: str
    blob: str
    size: int | None  # None: the object is absent from this snapshot (e.g. a size-limited copy)


def _git_dir(p: Path) -> Path | None:
    if (p / ".git").is_dir():
        return p / ".git"
    if (p / "HEAD").is_file() and (p / "objects").is_dir():
        return p
    return None


def find_snapshot(root: Path, repo: str) -> Path:
    """The git directory of ``repo`` (``owner/name``) under ``root`` (layouts in the module doc)."""
    owner, _, name = repo.partition("/")
    if not owner or not name:
        raise ConfigError(f"repository {repo!r} is not owner/name")
    candidates = [root / f"{owner}+{name}" / "repo", root / f"{owner}+{name}", root / owner / name, root / name]
    for c in candidates:
        g = _git_dir(c)
        if g is not None:
            return g
    raise SnapshotError(f"no clone of {repo} under {root} (looked for "
                        f"{', '.join(str(c.relative_to(root)) for c in candidates)}); "
                        f"git clone https://github.com/{repo} {root / owner / name}")


class GitSnapshot:
    """One repository's git directory; read-only access at given commits. Thread-safe reads."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = Path(git_dir)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _git(self, *args: str) -> bytes:
        try:
            return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], check=True,
                                  capture_output=True, timeout=600).stdout
        except FileNotFoundError as exc:
            raise SnapshotError("the git executable is needed to read training snapshots") from exc
        except subprocess.CalledProcessError as exc:
            msg = exc.stderr.decode("utf-8", "replace").strip()
            raise SnapshotError(f"git {' '.join(args)} failed in {self.git_dir}: {msg}") from exc

    def resolve(self, commit: str) -> str:
        """The full hash of ``commit`` (raises when the snapshot lacks it)."""
        out = self._git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").decode().strip()
        if len(out) != 40:
            raise SnapshotError(f"commit {commit} is not in {self.git_dir}")
        return out

    def ls_tree(self, commit: str, prefix: str = "") -> list[TreeEntry]:
        """Every blob under ``prefix`` at ``commit`` (recursive), with its size when present."""
        args = ["ls-tree", "-r", "-l", "-z", commit]
        if prefix:
            args += ["--", prefix]
        out: list[TreeEntry] = []
        for rec in self._git(*args).split(b"\0"):
            if not rec:
                continue
            meta, _, path = rec.partition(b"\t")
            mode, kind, blob, size = meta.decode().split()
            if kind != "blob" or mode == "120000":  # no submodules, no symlinks
                continue
            out.append(TreeEntry(path.decode("utf-8", "surrogateescape"), blob,
                                 int(size) if size.isdigit() else None))
        return out

    def has(self, blob: str) -> bool:
        try:
            self._git("cat-file", "-e", blob)
        except SnapshotError:
            return False
        return True

    def read(self, blob: str) -> bytes:
        """The bytes of one blob."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(blob.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().decode().split()
            if len(header) != 3 or header[1] != "blob":
                raise SnapshotError(f"object {blob} is missing from {self.git_dir}")
            n = int(header[2])
            data = proc.stdout.read(n)
            proc.stdout.read(1)  # the newline after the object
            if len(data) != n:
                raise SnapshotError(f"object {blob} was cut short in {self.git_dir}")
            return data

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                self._proc.wait(timeout=30)
                if self._proc.stdout is not None:
                    self._proc.stdout.close()
                self._proc = None

    def __enter__(self) -> GitSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
