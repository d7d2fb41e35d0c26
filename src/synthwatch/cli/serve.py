"""``synthwatch serve``, ``synthwatch worker``, ``synthwatch db …`` and ``synthwatch admin …``:
the moderation service's commands. Thin: they call :mod:`synthwatch.service`."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import SynthwatchError
from ._exits import EXIT_USAGE, fail

__all__ = ["register", "db_app", "admin_app"]

console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

db_app = typer.Typer(help="The service database: migrations.", no_args_is_help=True)
admin_app = typer.Typer(help="Tenants and API keys of the service.", no_args_is_help=True)
tenant_app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
key_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
admin_app.add_typer(tenant_app, name="tenant")
admin_app.add_typer(key_app, name="key")


def _core():  # type: ignore[no-untyped-def]
    from ..service.core import ServiceCore

    core = ServiceCore()
    core.db.require_migrated()
    return core


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=0, help="Scan worker processes to start (0: the API alone).")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
) -> None:
    """Run the HTTP API (FastAPI on uvicorn) and N scan worker processes."""
    import uvicorn

    from ..service.app import create_app
    from ..service.jobs.supervisor import Supervisor
    from ..service.settings import ServiceSettings

    _logging(log_level)
    try:
        settings = ServiceSettings()
        app = create_app(settings)
    except SynthwatchError as exc:
        fail(exc)
    sup = Supervisor(workers, grace_s=settings.service.shutdown_grace_s)
    console.print(f"synthwatch API on http://{escape(host)}:{port} (docs at /docs), {workers} worker(s), "
                  f"database {escape(app.state.core.db.display_url)}", highlight=False)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), access_log=access_log,
                            lifespan="on", timeout_graceful_shutdown=30,
                            # longer than clients' and proxies' idle timeouts, so that a client never
                            # sends on a connection the server is closing at that moment
                            timeout_keep_alive=75)
    server = _make_server(config)
    sup.start()
    try:
        server.run()
    finally:
        sup.stop()


def _make_server(config: Any) -> Any:
    """uvicorn's server, but SIGTERM/SIGINT end ``run()`` normally (uvicorn re-raises the signal
    after shutting down, which would kill this process before it stops its workers)."""
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

    return Server(config)


def worker(
    processes: Annotated[int, typer.Option(min=1, help="Worker processes to run.")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run scan workers only (e.g. on another machine sharing the database)."""
    from ..service.db import NotMigrated

    _logging(log_level)
    if processes == 1:
        from ..service.jobs.worker import Worker

        try:
            w = Worker()
            with contextlib.suppress(OSError):
                os.nice(w.opts.worker_nice)
            code = w.run()
        except NotMigrated as exc:
            fail(exc)
        raise typer.Exit(code)
    import signal
    import threading

    from ..service.jobs.supervisor import Supervisor
    from ..service.settings import ServiceSettings

    try:
        _core()
    except SynthwatchError as exc:
        fail(exc)
    sup = Supervisor(processes, grace_s=ServiceSettings().service.shutdown_grace_s)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sup.start()
    stop.wait()
    sup.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version (safe to run again)."""
    from ..service.db import Database
    from ..service.settings import ServiceSettings

    try:
        db = Database(ServiceSettings().db_url)
        state = db.upgrade()
    except SynthwatchError as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 - a driver error (unreachable server, permissions)
        console.print(f"[bold red]error:[/] cannot migrate {escape(db.display_url)}: {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None
    out.print(f"database {db.display_url} at revision {state.current}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the one this version needs."""
    from ..service.db import Database
    from ..service.settings import ServiceSettings

    db = Database(ServiceSettings().db_url)
    state = db.migration_state()
    out.print(f"database {db.display_url}: revision {state.current or 'none'} (this version needs {state.head})")
    if not state.ok:
        raise typer.Exit(1)


@tenant_app.command("create")
def tenant_create(name: Annotated[str, typer.Argument(help="Tenant name (unique).")]) -> None:
    """Create a tenant."""
    try:
        tenant = _core().create_tenant(name)
    except SynthwatchError as exc:
        fail(exc)
    out.print(f"tenant {tenant.name} created ({tenant.id})")


@tenant_app.command("list")
def tenant_list() -> None:
    """List tenants."""
    try:
        core = _core()
    except SynthwatchError as exc:
        fail(exc)
    with core.db.read() as conn:
        tenants = core.stores.tenants.list(conn)
    table = Table(title="tenants")
    for col in ("id", "name", "settings"):
        table.add_column(col)
    for t in tenants:
        table.add_row(t.id, escape(t.name), escape(str(t.settings)))
    out.print(table)


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="Tenant name.")],
    role: Annotated[str, typer.Option(help="uploader, reviewer, auditor, admin or regulator.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
) -> None:
    """Create an API key. The key is printed once, as the last line of stdout; only its hash is kept."""
    try:
        core = _core()
        key, secret = core.create_key(core.tenant_by_name(tenant), role, name)
    except SynthwatchError as exc:
        fail(exc)
    out.print(f"key {key.id} for tenant {escape(tenant)}, role {key.role} (shown once, store it now):")
    out.print(secret, markup=False)


@key_app.command("list")
def key_list(tenant: Annotated[str, typer.Option(help="Tenant name.")]) -> None:
    """List a tenant's keys (never the secret)."""
    try:
        core = _core()
        t = core.tenant_by_name(tenant)
    except SynthwatchError as exc:
        fail(exc)
    with core.db.read() as conn:
        keys = core.stores.keys.list(conn, t.id)
    table = Table(title=f"keys of {escape(tenant)}")
    for col in ("id", "prefix", "role", "name", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(k.id, f"swk_{k.prefix}", k.role, escape(k.name), "yes" if k.revoked_at else "")
    out.print(table)


@key_app.command("revoke")
def key_revoke(key_id: Annotated[str, typer.Argument(help="Key id (key_…).")],
               tenant: Annotated[str, typer.Option(help="Tenant name.")]) -> None:
    """Revoke a key."""
    try:
        core = _core()
        ok = core.revoke_key(core.tenant_by_name(tenant).id, key_id)
    except SynthwatchError as exc:
        fail(exc)
    if not ok:
        console.print(f"[bold red]error:[/] no live key {escape(key_id)} in tenant {escape(tenant)}")
        raise typer.Exit(EXIT_USAGE)
    out.print(f"key {key_id} revoked")


def register(app: typer.Typer) -> None:
    """Add the service's commands to the ``synthwatch`` CLI."""
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.add_typer(db_app, name="db", help="The service database: migrations.")
    app.add_typer(admin_app, name="admin", help="Tenants and API keys of the service.")


