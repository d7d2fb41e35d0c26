"""The database: one engine per process, explicit read and write transactions, migrations.

SQLite (the default, one laptop, no server) runs in WAL mode with a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers (the API process and the
workers) queue for the lock instead of failing on a read-to-write upgrade. PostgreSQL
(``postgresql+psycopg://…``) uses ordinary transactions; the job queue leases with
``FOR UPDATE SKIP LOCKED`` there.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import ConfigError

__all__ = ["Database", "MigrationState", "NotMigrated", "now"]


def now() -> float:
    return time.time()


class NotMigrated(ConfigError):
    """The database schema is missing or older than this version of synthwatch."""

    code = "database_not_migrated"


class MigrationState:
    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head

    @property
    def ok(self) -> bool:
        return self.current == self.head


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given, it holds no parsed secret
        return "<unparseable database URL>"


class Database:
    """Engine plus transaction helpers. ``read()`` and ``write()`` yield a connection inside a
    transaction that commits on success and rolls back on error."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._write_lock = threading.Lock()
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"invalid database URL {_redact(url)!r}: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"future": True}
        if self.dialect == "sqlite":
            db_path = parsed.database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
            kwargs["pool_size"] = pool_size
            kwargs["poolclass"] = sa.pool.QueuePool
        elif self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        else:
            raise ConfigError(f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql+psycopg://")
        try:
            self.engine: Engine = sa.create_engine(url, **kwargs)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise ConfigError(f"cannot use database {_redact(url)!r}: {exc}") from exc
        if self.dialect == "sqlite":
            self._sqlite_setup(self.engine)

    @property
    def display_url(self) -> str:
        return _redact(self.url)

    @staticmethod
    def _sqlite_setup(engine: Engine) -> None:
        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        if self.dialect != "sqlite":
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        # SQLite has one writer at a time. Threads of this process queue on a lock (first come,
        # first served) instead of in SQLite's busy handler, which sleeps with back-off (up to
        # 100 ms a try) and made 50 concurrent uploads wait seconds; other processes still wait in
        # the busy handler, rarely, since each holds the lock for milliseconds.
        with self._write_lock, self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def checkpoint_in_background(self, interval_s: float = 1.0) -> Callable[[], None]:
        """SQLite: this process's commits stop checkpointing the WAL, and a thread does it every
        ``interval_s`` instead; returns the function that stops the thread (after a last checkpoint).

        SQLite checkpoints on the commit that takes the WAL past 1000 pages, and a checkpoint syncs
        the disk: tens of milliseconds inside a commit that holds this process's write lock, while
        every other request of the API queues behind it. The thread's checkpoints are PASSIVE
        (readers and writers go on) and hold no lock of ours. Other processes (workers) keep
        SQLite's automatic checkpoints. A no-op on PostgreSQL."""
        if self.dialect != "sqlite":
            return lambda: None

        @sa.event.listens_for(self.engine, "connect")
        def _manual(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        self.engine.dispose()  # idle pooled connections reopen with the setting
        stop = threading.Event()

        def checkpoint() -> None:
            try:
                raw = self.engine.raw_connection()
                try:
                    cur = raw.cursor()
                    cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    cur.close()
                finally:
                    raw.close()
            except Exception:  # noqa: BLE001 - a busy or vanished database: the next round tries again
                logging.getLogger(__name__).debug("WAL checkpoint skipped", exc_info=True)

        def run() -> None:
            while not stop.wait(interval_s):
                checkpoint()

        thread = threading.Thread(target=run, name="sqlite-checkpoint", daemon=True)
        thread.start()

        def stop_thread() -> None:
            stop.set()
            thread.join(timeout=10)
            checkpoint()

        return stop_thread

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ migrations
    def _alembic_config(self, conn: Connection | None = None) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("synthwatch.service") / "migrations"))
        cfg.attributes["connection"] = conn
        return cfg

    def migration_state(self) -> MigrationState:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head() or ""
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return MigrationState(current, head)

    def require_migrated(self) -> None:
        """Raise :class:`NotMigrated` (with the command that fixes it) unless the schema is current."""
        try:
            state = self.migration_state()
        except sa.exc.OperationalError as exc:
            raise ConfigError(f"cannot reach the database {self.display_url}: {exc.orig}") from exc
        if not state.ok:
            have = state.current or "no synthwatch schema"
            raise NotMigrated(f"the database {self.display_url} is not migrated ({have}; this version needs "
                              f"{state.head}): run `synthwatch db upgrade` first")

    def upgrade(self, revision: str = "head") -> MigrationState:
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(self._alembic_config(conn), revision)
        return self.migration_state()
