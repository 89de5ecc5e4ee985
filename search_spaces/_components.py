"""The registry of ablation components: the loss terms plus ``attention`` and ``aux_heads``.

The loss components are the fields of :class:`LossWeights`, which are also the keys of the loss
registry in ``trials.losses`` (a test keeps the two equal), so there is one list of names for the
recipe, the losses and ``harness ablate``. Each component knows how to switch itself off in a
recipe, as dotted-path overrides:

- a loss term: its weight becomes 0 (``loss.weights.<term>``), and by default the remaining weights
  are rescaled to the original total so the loss keeps its scale;
- ``attention``: ``model.attention.blocks = 0``;
- ``aux_heads``: the region, affinity and query terms together (their heads are then not built).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from search_spaces._errors import ConfigError
from search_spaces._recipe import LossWeights, Recipe

__all__ = [
    "AUX_HEADS",
    "LOSS_COMPONENTS",
    "Component",
    "Variant",
    "get_component",
    "list_components",
    "only_term",
    "variant_drop",
    "variant_only",
]

LOSS_COMPONENTS: tuple[str, ...] = tuple(LossWeights.model_fields)
AUX_HEADS: tuple[str, ...] = ("region", "affinity", "query")


@dataclass(frozen=True)
class Component:
    """One thing ``harness ablate`` can drop.

    Attributes:
        name: the registry key (``boundary``, ``attention``, ``aux_heads`` ...).
        loss_terms: the loss weights it zeroes (empty for ``attention``).
        description: one line for ``--help`` and the tables.
    """

    name: str
    loss_terms: tuple[str, ...]
    description: str

    @property
    def is_loss_term(self) -> bool:
        """Whether this is a single loss term (the only kind ``--only`` accepts)."""
        return self.loss_terms == (self.name,)


_COMPONENTS: dict[str, Component] = {
    **{
        name: Component(name, (name,), LossWeights.model_fields[name].description or name)
        for name in LOSS_COMPONENTS
    },
    "attention": Component("attention", (), "the decoder attention blocks (blocks = 0)"),
    "aux_heads": Component("aux_heads", AUX_HEADS, "the region, affinity and query heads"),
}


def list_components() -> list[str]:
    """Names ``--drop`` accepts, loss terms first."""
    return list(_COMPONENTS)


def get_component(name: str, *, option: str = "drop") -> Component:
    """The component registered under ``name``.

    Args:
        name: a component name (see :func:`list_components`).
        option: the parameter ``name`` was given as (``drop`` or ``only``), named in the error
            and carried as its ``param``.

    Raises:
        ConfigError: unknown name; the message lists the valid ones.
    """
    if name not in _COMPONENTS:
        raise ConfigError(
            f"{option} {name!r}: unknown component; known components are "
            f"{', '.join(list_components())} (and 'each' for drop)",
            param=option,
        )
    return _COMPONENTS[name]


def only_term(name: str) -> Component:
    """The component ``only`` names: a single loss term.

    Raises:
        ConfigError: unknown name, or not a single loss term (``param="only"``).
    """
    comp = get_component(name, option="only")
    if not comp.is_loss_term:
        raise ConfigError(
            f"only {name!r}: not a single loss term; the loss terms are "
            f"{', '.join(LOSS_COMPONENTS)}",
            param="only",
        )
    return comp


@dataclass(frozen=True)
class Variant:
    """One configuration of an ablation: the base recipe with ``overrides`` applied.

    Attributes:
        name: ``full``, ``drop_boundary``, ``only_soft_dice`` ...
        description: plain words for the tables.
        overrides: dotted path -> value, applied to the base recipe.
        renormalized: whether the remaining loss weights were rescaled to the original total.
        notes: anything the user should know (a component that was already off ...).
    """

    name: str
    description: str
    overrides: dict[str, Any]
    renormalized: bool = False
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``variants.json``)."""
        return {
            "variant": self.name,
            "description": self.description,
            "overrides": dict(self.overrides),
            "renormalized": self.renormalized,
            "notes": list(self.notes),
        }


def _weights(recipe: Recipe) -> dict[str, float]:
    return {k: float(v) for k, v in recipe.loss.weights.model_dump().items()}


def _rescaled(
    weights: dict[str, float], zeroed: Iterable[str], renormalize: bool, label: str, param: str
) -> tuple[dict[str, Any], bool]:
    zeroed = set(zeroed)
    total = sum(weights.values())
    kept = {k: v for k, v in weights.items() if k not in zeroed}
    kept_total = sum(kept.values())
    if kept_total <= 0:
        raise ConfigError(
            f"{label}: no loss term would be left with a positive weight (the recipe's weights "
            f"are {weights}); a loss needs at least one term",
            param=param,
        )
    out: dict[str, Any] = {f"loss.weights.{k}": 0.0 for k in sorted(zeroed)}
    scale = total / kept_total if renormalize else 1.0
    if renormalize and abs(scale - 1.0) > 1e-12:
        out.update({f"loss.weights.{k}": v * scale for k, v in kept.items()})
        return out, True
    return out, False


def variant_drop(recipe: Recipe, names: Sequence[str], *, renormalize: bool = True) -> Variant:
    """The variant of ``recipe`` without the components ``names``.

    Args:
        recipe: the base (full) configuration.
        names: component names (see :func:`list_components`).
        renormalize: rescale the remaining loss weights to the original total.

    Raises:
        ConfigError: unknown component, or nothing would be left of the loss.
    """
    comps = [get_component(n) for n in names]
    label = f"drop {'+'.join(names)!r}"
    weights = _weights(recipe)
    zeroed = sorted({t for c in comps for t in c.loss_terms})
    notes = []
    already = [t for t in zeroed if weights[t] == 0]
    if already:
        notes.append(f"already 0 in the base recipe: {', '.join(already)}")
    overrides: dict[str, Any] = {}
    renormalized = False
    if zeroed:
        overrides, renormalized = _rescaled(weights, zeroed, renormalize, label, "drop")
    if any(c.name == "attention" for c in comps):
        if recipe.model.attention.blocks == 0 or recipe.model.attention.type == "none":
            notes.append("attention is already off in the base recipe")
        overrides["model.attention.blocks"] = 0
    return Variant(
        name="drop_" + "+".join(names),
        description="without " + ", ".join(names),
        overrides=overrides,
        renormalized=renormalized,
        notes=tuple(notes),
    )


def variant_only(recipe: Recipe, name: str, *, renormalize: bool = True) -> Variant:
    """The variant of ``recipe`` whose loss is the single term ``name``.

    With ``renormalize`` the term carries the original total weight; otherwise its own weight.

    Raises:
        ConfigError: unknown component, or not a single loss term, or a term of weight 0 when
            its weight is kept as it is.
    """
    only_term(name)
    weights = _weights(recipe)
    if weights[name] == 0 and not renormalize:
        raise ConfigError(
            f"only {name!r}: its weight in the base recipe is 0, so without renormalize the "
            "loss would be empty",
            params=("only", "renormalize"),
        )
    others = [k for k in LOSS_COMPONENTS if k != name]
    overrides: dict[str, Any] = {f"loss.weights.{k}": 0.0 for k in others}
    renormalized = renormalize and sum(weights.values()) != weights[name]
    if renormalize:
        overrides[f"loss.weights.{name}"] = sum(weights.values())
    return Variant(
        name=f"only_{name}",
        description=f"{name} as the only loss term",
        overrides=overrides,
        renormalized=renormalized,
    )
