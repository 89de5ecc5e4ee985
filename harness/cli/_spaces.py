"""``harness spaces``: list the shipped search spaces and plans, or print one space."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

__all__ = ["spaces_app"]

console = Console()

spaces_app = typer.Typer(
    help="Named search spaces: `harness spaces` lists them, `harness spaces show NAME` prints one.",
    no_args_is_help=False,
    invoke_without_command=True,
)


@spaces_app.callback()
def spaces_list(ctx: typer.Context) -> None:
    """List the shipped search spaces and plans."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from search_spaces import list_plans, list_spaces, load_plan, load_space

    table = Table(title="search spaces (harness search --space NAME)")
    for col in ("space", "parameters", "description"):
        table.add_column(col)
    for name in list_spaces():
        space = load_space(name)
        table.add_row(name, str(len(space.paths())), space.description)
    console.print(table)
    plans = Table(title="plans (harness search --plan NAME)")
    for col in ("plan", "stages", "description"):
        plans.add_column(col)
    for name in list_plans():
        plan = load_plan(name)
        plans.add_row(name, " -> ".join(s.name for s in plan.stages), plan.description)
    console.print(plans)


@spaces_app.command("show")
def spaces_show(
    name: Annotated[str, typer.Argument(help="Space name or YAML path.")],
) -> None:
    """Print one space as a table: parameter path, type, range or choices, log, condition."""
    from rich.table import Table

    from search_spaces import load_space

    space = load_space(name)
    # two columns: the path, never cut (it is the parameter's name), and what it takes, wrapped
    # at spaces, so a narrow terminal reads as well as a wide one
    console.print(f"{space.name}: {space.description}", markup=False)
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("path", no_wrap=True)
    table.add_column("type, range or choices, condition")
    for row in space.to_rows():
        what = f"{row['type']} {row['range']}" + (", log" if row["log"] else "")
        if row["condition"]:
            what += f"; when {row['condition']}"
        table.add_row(row["path"], what)
    console.print(table)
