"""``synthwatch audit verify|export|checkpoint|purge``: the service's tamper-evident audit log.

Exit codes: 0 the log (or export) verifies / the command did its work; 1 verification found an
altered, deleted, inserted or reordered entry, a truncated tail or a bad signature (the first bad
entry is named); 2 usage or configuration error (e.g. a purge younger than the retention floor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import SynthwatchError
from ..render.text import cell, printable, write_json
from ._exits import EXIT_USAGE, fail

__all__ = ["app"]

app = typer.Typer(help="The service's audit log: verify the hash chain, export a case, sign checkpoints, purge.",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _core() -> Any:
    from ..service.core import ServiceCore

    core = ServiceCore()
    core.db.require_migrated()
    return core


def _tenant_id(core: Any, name: str | None) -> str | None:
    return None if name is None else str(core.tenant_by_name(name).id)


@app.command()
def verify(
    tenant: Annotated[str | None, typer.Option(help="verify only this tenant's chain (default: every chain)")] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="PEM public key to pin: only checkpoints "
                                                    "it signed count", exists=True, dir_okay=False)] = None,
    export: Annotated[Path | None, typer.Option("--export", help="verify a case export zip offline instead (no "
                                                "database needed)", exists=True, dir_okay=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-compute the hash chains against their signed checkpoints; exit 1 naming the first bad entry."""
    try:
        pem = public_key.read_bytes() if public_key is not None else None
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {cell(public_key)}: {printable(exc)}")
        raise typer.Exit(EXIT_USAGE) from exc
    if export is not None:
        from ..service.audit.export import verify_export

        try:
            res = verify_export(export, public_key_pem=pem)
        except SynthwatchError as exc:
            fail(exc)
        if as_json:
            write_json(res)
        elif res["ok"]:
            key = res["checks"].get("key", {})
            out.print(cell(f"export of case {res['case_id']} verifies: {res['checks'].get('segment_entries')} chain "
                           f"entries, checkpoint {res['checks'].get('checkpoint', {}).get('id')} signed by "
                           f"{'the pinned' if key.get('pinned') else 'the included'} key {key.get('key_id', '')[:16]}…"))
        else:
            err.print("[bold red]the export does not verify:[/]")
            for p in res["problems"]:
                err.print(cell(f"  {p}"))
        raise typer.Exit(0 if res["ok"] else 1)
    from ..service.audit import audit_of
    from ..service.audit.log import load_public_pem

    try:
        core = _core()
        pinned = None
        if pem is not None:
            kid, key = load_public_pem(pem)
            pinned = {kid: key}
        chains = [c for c in [_tenant_id(core, tenant)] if c] or None
    except SynthwatchError as exc:
        fail(exc)
    log = audit_of(core)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True, disable=as_json) as bar:
        task = bar.add_task("verifying", total=None)
        result = log.verify(chains, pinned_keys=pinned,
                            progress=lambda chain, n: bar.update(task, description=f"{chain}: {n:,} entries"))
    if as_json:
        write_json(result.to_dict())
    else:
        t = Table(title="audit chains")
        for col in ("chain", "entries", "seq", "checkpoints", "state"):
            t.add_column(col)
        for c in result.chains:
            t.add_row(cell(c.chain), f"{c.entries:,}", f"{c.first_seq}-{c.last_seq}", str(c.checkpoints),
                      "[green]intact[/]" if c.ok else "[bold red]BROKEN[/]")
        out.print(t)
        out.print(f"{sum(c.entries for c in result.chains):,} entries verified in {result.seconds:.2f} s")
        bad = result.first_bad
        if bad is not None:
            err.print(cell(f"first bad entry: chain {bad[0]}, seq {bad[1].get('seq')}"
                           f"{' (' + bad[1]['id'] + ')' if bad[1].get('id') else ''}: {bad[1]['problem']}"),
                      style="bold red")
            for c in result.chains:
                for p in c.problems[1:]:
                    err.print(cell(f"  also: {c.chain}: {p}"))
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def export(
    case: Annotated[str, typer.Option("--case", help="the case id")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="the zip to write")],
    media: Annotated[bool, typer.Option("--media", help="include the media files themselves")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a case's evidence export (reports, decisions, chain segment, signed checkpoint)."""
    import sqlalchemy as sa

    from ..service.audit.export import export_case
    from ..service.review.cases import Actor, ReviewError
    from ..service.storage import review_tables as rt

    try:
        core = _core()
        with core.db.read() as conn:
            tid = conn.execute(sa.select(rt.cases.c.tenant_id).where(rt.cases.c.id == case)).scalar()
        if tid is None:
            raise ReviewError(f"no case {case!r}", code="not_found")
        manifest = export_case(core, tid, case, out_path, include_media=media, actor=Actor("cli", None, None))
    except ReviewError as exc:
        err.print(f"[red]error:[/red] {cell(exc)}")
        raise typer.Exit(EXIT_USAGE) from exc
    except SynthwatchError as exc:
        fail(exc)
    if as_json:
        write_json(manifest)
    else:
        out.print(cell(f"wrote {out_path}: case {case}, {len(manifest['files'])} files, chain entries "
                       f"{manifest['audit']['first_seq']}-{manifest['audit']['last_seq']}, checkpoint "
                       f"{manifest['audit']['checkpoint']}"))
        out.print(cell(f"verify offline: synthwatch audit verify --export {out_path} --public-key <the platform's key>"))


@app.command()
def checkpoint(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's chain")] = None,
    public_key: Annotated[bool, typer.Option("--public-key", help="print the checkpoint public key (PEM) and "
                                             "sign nothing")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Sign a checkpoint of every chain that moved (or print the public key to pin)."""
    from ..service.audit import audit_of

    try:
        core = _core()
        log = audit_of(core)
        if public_key:
            out.print(log.signer.public_pem().rstrip("\n"))
            err.print(f"key id {log.signer.key_id()}")
            return
        made = log.checkpoint([c for c in [_tenant_id(core, tenant)] if c] or None, force=tenant is not None)
    except SynthwatchError as exc:
        fail(exc)
    if as_json:
        write_json([c.to_dict() for c in made])
        return
    for c in made:
        out.print(cell(f"checkpoint {c.id}: chain {c.chain} at seq {c.seq}, hash {c.hash}"))
    if not made:
        out.print("no chain moved since its last checkpoint")


@app.command()
def purge(
    older_than: Annotated[float, typer.Option("--older-than", help="purge entries and closed cases older than DAYS "
                                              "(at least the retention floor, 183 days by default)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would go, remove nothing")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove audit entries (from the start of each chain, signed anchor kept) and closed cases older
    than DAYS; legal holds block both."""
    from ..service.audit.purge import purge as run_purge

    try:
        core = _core()
        result = run_purge(core, older_than_days=older_than, dry_run=dry_run)
    except SynthwatchError as exc:
        fail(exc)
    if as_json:
        write_json(result.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {sum(result.entries.values()):,} audit entries in {len(result.entries)} chain(s) and "
              f"{result.cases} closed case(s); {result.held_cases} case(s) kept under legal hold")
    for chain, seq in result.stopped_by_hold.items():
        out.print(cell(f"chain {chain}: stopped before seq {seq} (legal hold)"))
