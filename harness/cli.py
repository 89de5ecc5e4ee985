"""The ``harness`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

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
)
console = Console()


@app.callback()
def _root() -> None:
    """Train, search, ablate, report and benchmark the lesion segmentation recipe."""


@app.command()
def train(
    recipe: Annotated[
        str,
        typer.Option(
            help="Built-in recipe (cpu_demo, stage1pp) or a YAML path; 'auto' = stage1pp with a "
            "GPU, cpu_demo without."
        ),
    ] = "auto",
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder of images and masks (images/ + masks/ or PlantSeg images/ + "
            "annotations/, optionally split into train/val/test). Default: synthetic data."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a recipe value by dotted path, e.g. --set optim.lr=3e-4 "
            "--set loss.weights.boundary=0 (repeatable).",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (optim.epochs).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Run name: the run goes to RUNS_DIR/NAME.")
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories are made.")] = Path("runs"),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    on_bad_sample: Annotated[
        str | None,
        typer.Option(
            help="error (default) or skip: what to do with an unreadable image/mask pair."
        ),
    ] = None,
) -> None:
    """Train one configuration of the recipe and keep its run directory.

    The run directory holds the resolved recipe.yaml, split.json, metrics.csv (one row per
    epoch, written as the run goes), best.pt (the best checkpoint) and summary.json.
    """
    from harness._train_cmd import resolve_recipe, train_command

    resolved = resolve_recipe(recipe, data, set_ or [], epochs, on_bad_sample)
    raise typer.Exit(train_command(resolved, name, runs_dir, device, console))


def main() -> None:
    """Entry point of the ``harness`` console script: user errors become one clear message."""
    try:
        app()
    except HarnessError as exc:
        Console(stderr=True).print(Text("error: ", style="bold red") + Text(str(exc)))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
