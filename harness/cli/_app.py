"""The ``harness`` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.cli._ablate import ablate
from harness.cli._cmd_search import report, search, tables
from harness.cli._cmd_train import bench, evaluate, train
from harness.cli._spaces import spaces_app
from harness.cli._validate import validate
from search_spaces import HarnessError

__all__ = ["app", "main"]

app = typer.Typer(
    name="harness",
    help=(
        "Hyperparameter search and benchmark harness for the plant-disease lesion segmentation "
        "recipe (Ray Tune + Optuna TPE + ASHA). Parameters are named by their dotted path in the "
        "recipe, e.g. optim.lr or loss.weights.boundary."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: click wraps it at word boundaries to the terminal's width
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            version = metadata.version("lesion-search-harness")
        except metadata.PackageNotFoundError:  # run from a source tree that was not installed
            version = "unknown (not installed)"
        typer.echo(f"harness {version}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the harness's version and exit.",
            callback=_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Train, search, ablate, report and benchmark the lesion segmentation recipe."""


for _command in (train, search, report, tables, evaluate, bench, ablate, validate):
    app.command()(_command)
app.add_typer(spaces_app, name="spaces")


def main() -> None:
    """Entry point of the ``harness`` console script: user errors become one clear message."""
    import logging

    import harness
    from harness.cli._errors import print_error, user_message
    from harness.cli._help import name_metavars

    harness.set_verbosity(logging.WARNING)  # the commands print their own (rich) output
    command = name_metavars(typer.main.get_command(app))
    try:
        command(prog_name="harness")
    except HarnessError as exc:
        print_error(user_message(exc, command))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
