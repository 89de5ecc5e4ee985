"""The importance model: main-effect splines and two-way interaction terms, and what it explains.

One least-squares model serves both columns of the report:

- **ANOVA** (on the trials as sampled): each parameter's type-II sum of squares in the
  main-effects model (its loss in fit when its block of columns is removed, all others kept),
  as a share of the outcome's total sum of squares. A block of ``df`` columns fitted to noise
  alone gains ``df`` residual mean squares on average, so the share reported is
  ``max(SS - df * MSE, 0) / SS_total``: zero on average for a parameter with no effect (the same
  correction as Hays' omega²). F and p are the usual type-II tests.
- **fANOVA** (over the search space): the functional ANOVA (Sobol 1993; Hooker 2007) of the
  fitted main-effects-plus-interactions model under the product of the parameters' measures
  (uniform or log-uniform over each range, uniform over choices). A parameter's main effect is
  the model averaged over every other parameter; its share is the variance of that main effect
  over the space divided by the variance of the metric there (the model's variance plus the
  residual mean square). Each variance is a quadratic form b'Ab in the coefficients, corrected by
  tr(A Cov(b)) so that estimation noise does not count as effect.

Where the trials were sampled evenly (random search, a grid), the two columns estimate the same
quantity, the first-order Sobol index; a TPE search crowds good regions, which ANOVA weighs as
sampled and fANOVA does not.

Everything is computed from the weighted Gram matrix X'WX, so a bootstrap resample (weights =
how often each trial was drawn) refits without rebuilding the design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.stats import qmc

from analysis.importance._coords import Coordinate

__all__ = ["Block", "Design", "Fit", "fit"]

# beyond this condition number the blocks of inv(X'X) keep fewer than ~6 digits
_MAX_CONDITION = 1e10


@dataclass(frozen=True)
class Block:
    """A term of the model: a parameter's main effect or a pair's interaction."""

    name: str
    members: tuple[int, ...]
    cols: slice

    @property
    def df(self) -> int:
        return self.cols.stop - self.cols.start


@dataclass(frozen=True, eq=False)
class Design:
    """The model's columns: intercept, main-effect blocks, then interaction blocks.

    Attributes:
        coords: the coordinates (one per parameter analysed).
        main: one block per coordinate.
        pairs: one block per interaction tested.
        pair_df: spline degrees of freedom of each side of an interaction term.
    """

    coords: list[Coordinate]
    main: list[Block]
    pairs: list[Block]
    pair_df: int
    centers: dict[int, np.ndarray]

    @classmethod
    def build(
        cls,
        coords: list[Coordinate],
        pairs: list[tuple[int, int]],
        pair_df: int,
        columns: dict[str, np.ndarray] | None = None,
    ):
        """The design of ``coords`` with interaction terms for ``pairs``.

        An interaction term is the product of the two sides' coarse bases, each centred on the
        trials' means (``columns``): products of centred functions of independent parameters are
        uncorrelated with any function of one of them, so the term cannot absorb what a main
        effect's spline missed and call it an interaction.
        """
        centers = {}
        for i in {m for ab in pairs for m in ab}:
            c = coords[i]
            centers[i] = c.basis(columns[c.column], pair_df).mean(axis=0) if columns else 0.0
        main, start = [], 1
        for i, c in enumerate(coords):
            main.append(Block(c.name, (i,), slice(start, start + c.width)))
            start += c.width
        blocks = []
        for a, b in pairs:
            width = _pair_width(coords[a], pair_df) * _pair_width(coords[b], pair_df)
            name = f"{coords[a].name} × {coords[b].name}"
            blocks.append(Block(name, (a, b), slice(start, start + width)))
            start += width
        return cls(coords, main, blocks, pair_df, centers)

    def side(self, i: int, values: np.ndarray) -> np.ndarray:
        """Coordinate ``i``'s centred coarse basis, one side of an interaction term."""
        c = self.coords[i]
        return c.basis(values, self.pair_df) - self.centers.get(i, 0.0)

    @property
    def width(self) -> int:
        return 1 + sum(b.df for b in [*self.main, *self.pairs])

    @property
    def main_width(self) -> int:
        return 1 + sum(b.df for b in self.main)

    def matrix(self, columns: dict[str, np.ndarray], n: int) -> np.ndarray:
        """The design at ``n`` points; ``columns``: column name → values."""
        parts = [np.ones((n, 1))]
        parts += [c.basis(columns[c.column]) for c in self.coords]
        for block in self.pairs:
            a, b = block.members
            left = self.side(a, columns[self.coords[a].column])
            right = self.side(b, columns[self.coords[b].column])
            parts.append((left[:, :, None] * right[:, None, :]).reshape(n, -1))
        return np.hstack(parts)

    def space_forms(self, rng: np.random.Generator, draws: int = 4096, grid: int = 48):
        """The quadratic forms of the functional ANOVA over the space (see the module docstring).

        Returns ``(total, mains)``: ``total`` is the covariance of the design's columns under the
        space's measure (intercept excluded), so Var(model) = b'Ab; ``mains[i]`` is
        ``(columns, A_i)``: the columns the main effect of coordinate ``i`` depends on and the
        covariance of its averaged design rows, so Var(main effect i) = b[cols]' A_i b[cols].
        """
        # a scrambled Sobol sequence: integrates the model's variance far more evenly than
        # random draws (the denominator of every share)
        u = qmc.Sobol(len(self.coords), scramble=True, seed=rng).random(draws)
        sample = {c.column: c.sample(u[:, j]) for j, c in enumerate(self.coords)}
        full = self.matrix(sample, draws)
        total = np.cov(full[:, 1:], rowvar=False).reshape(self.width - 1, self.width - 1)
        means = {}
        for block in self.pairs:  # E[basis] of each side, for averaging the other one out
            for i in block.members:
                means[i] = self.side(i, sample[self.coords[i].column]).mean(axis=0)
        mains = []
        for i, c in enumerate(self.coords):
            values = _grid(c, rng, grid)
            rows = [c.basis(values)]
            cols = list(range(self.main[i].cols.start, self.main[i].cols.stop))
            for block in self.pairs:
                if i not in block.members:
                    continue
                mine = self.side(i, values)
                other = means[block.members[1] if block.members[0] == i else block.members[0]]
                if block.members[0] == i:
                    prod = mine[:, :, None] * other[None, None, :]
                else:
                    prod = other[None, :, None] * mine[:, None, :]
                rows.append(prod.reshape(len(values), -1))
                cols += list(range(block.cols.start, block.cols.stop))
            averaged = np.hstack(rows)
            cov = np.cov(averaged, rowvar=False).reshape(len(cols), len(cols))
            mains.append((np.asarray(cols) - 1, cov))  # -1: b without the intercept
        return total, mains


def _pair_width(c: Coordinate, pair_df: int) -> int:
    base = pair_df
    if c.levels is not None:
        base = len(c.levels) - 1
    elif c.grid:
        base = min(pair_df, c.df)
    return base + (1 if c.conditional else 0)


def _grid(c: Coordinate, rng: np.random.Generator, size: int) -> np.ndarray:
    """Points spreading the coordinate's measure evenly (equal weights)."""
    if c.levels is not None:
        return np.array(c.levels, dtype=object)
    if c.integer:
        return np.unique(c.sample((np.arange(size * 4) + 0.5) / (size * 4)))
    scaled = c.low + (np.arange(size) + 0.5) / size * (c.high - c.low)
    return np.power(10.0, scaled) if c.log else scaled


@dataclass(frozen=True)
class Fit:
    """What the model explains, from one (possibly resampled) set of trials.

    Attributes:
        n: trials (sum of weights).
        ss_total: total sum of squares of the outcome.
        main_ss: type-II sum of squares of each main-effect block (main-effects model).
        main_mse: residual mean square of the main-effects model; ``main_resid_df`` its df.
        pair_ss: sum of squares of each interaction block, beyond every main effect and the
            other interactions (full model).
        full_mse: residual mean square of the full model; ``full_resid_df`` its df.
        r2_main: R² of the main-effects model.
        space_main: variance over the space of each parameter's main effect (bias-corrected).
        space_total: variance over the space of the metric (model + residual).
    """

    n: float
    ss_total: float
    main_ss: np.ndarray
    main_mse: float
    main_resid_df: float
    pair_ss: np.ndarray
    full_mse: float
    full_resid_df: float
    r2_main: float
    space_main: np.ndarray
    space_total: float

    def anova_shares(self, design: Design) -> np.ndarray:
        df = np.array([b.df for b in design.main], dtype=float)
        return np.clip(self.main_ss - df * self.main_mse, 0.0, None) / self.ss_total

    def pair_shares(self, design: Design) -> np.ndarray:
        df = np.array([b.df for b in design.pairs], dtype=float)
        return np.clip(self.pair_ss - df * self.full_mse, 0.0, None) / self.ss_total

    def fanova_shares(self) -> np.ndarray:
        if not np.isfinite(self.space_total) or self.space_total <= 0:
            return np.full(len(self.space_main), np.nan)
        return np.clip(self.space_main, 0.0, None) / self.space_total


def fit(design: Design, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, forms) -> Fit | None:
    """Fit both models to ``y`` with trial weights ``w`` (None: every trial once).

    ``forms``: :meth:`Design.space_forms`, or None to skip the functional ANOVA. Returns None
    when the weighted trials leave no residual degrees of freedom or no variance.
    """
    w = np.ones(len(y)) if w is None else w
    distinct = int((w > 0).sum())
    if distinct <= design.width:
        return None
    xw = x.T * w
    gram, xty = xw @ x, xw @ y
    n = float(w.sum())
    mean = float(w @ y) / n
    ss_total = float(w @ (y * y)) - n * mean * mean
    if not ss_total > 0:
        return None
    m = design.main_width
    main_cols = np.arange(m)
    main_fit, main_ss, _ = _fit_drop(gram, xty, main_cols, [b.cols for b in design.main])
    resid_main = max(float(w @ (y * y)) - main_fit, 0.0)
    # E[weighted RSS] = sigma² (sum of weights - p) for any weights: the trace of the weighted
    # hat matrix is p (columns a resample loses with a level are ignored)
    main_df = max(n - m, 1.0)
    every = np.arange(design.width)
    full_fit, pair_ss, inverse = _fit_drop(gram, xty, every, [b.cols for b in design.pairs])
    resid_full = max(float(w @ (y * y)) - full_fit, 0.0)
    full_df = max(n - design.width, 1.0)
    full_mse = resid_full / full_df
    space_main = np.full(len(design.main), np.nan)
    space_total = float("nan")
    if forms is not None:
        space_main, space_total = _space(gram, xty, forms, full_mse, inverse)
    return Fit(
        n=n,
        ss_total=ss_total,
        main_ss=main_ss,
        main_mse=resid_main / main_df,
        main_resid_df=main_df,
        pair_ss=pair_ss,
        full_mse=full_mse,
        full_resid_df=full_df,
        r2_main=1.0 - resid_main / ss_total,
        space_main=space_main,
        space_total=space_total,
    )


def _space(gram, xty, forms, mse: float, inverse=None) -> tuple[np.ndarray, float]:
    total, mains = forms
    inverse = np.linalg.pinv(gram) if inverse is None else inverse
    b = (inverse @ xty)[1:]
    cov = mse * inverse[1:, 1:]
    var_model = float(b @ total @ b) - float(np.sum(total * cov))
    out = np.array(
        [
            float(b[cols] @ a @ b[cols]) - float(np.sum(a * cov[np.ix_(cols, cols)]))
            for cols, a in mains
        ]
    )
    return out, max(var_model, 0.0) + mse


def _fit_drop(gram, xty, cols: np.ndarray, blocks: list[slice]):
    """b'X'Wy of the fit on ``cols``, each block's loss in it when the block is removed, and
    inv(X'WX) on ``cols`` (None where it was not computed)."""
    sub_gram, sub_xty = gram[np.ix_(cols, cols)], xty[cols]
    wald = _wald(sub_gram, sub_xty, blocks)
    if wald is not None:
        return wald
    full = _explained(sub_gram, sub_xty, np.arange(len(cols)))
    losses = [
        full - _explained(sub_gram, sub_xty, np.setdiff1d(np.arange(len(cols)), _range(s)))
        for s in blocks
    ]
    return full, np.clip(np.array(losses, dtype=float), 0.0, None), None


def _range(s: slice) -> np.ndarray:
    return np.arange(s.start, s.stop)


def _wald(gram, xty, blocks: list[slice]):
    """One Cholesky for the fit and every block's SS (b_S' [inv(X'X)]_SS^-1 b_S), or None where
    X'X is singular or ill conditioned (a resample that lost a level); the condition number is
    estimated in the 1-norm from the inverse itself, which costs no decomposition."""
    if not np.isfinite(gram).all():
        return None
    try:
        inverse = cho_solve(cho_factor(gram), np.eye(len(gram)))
        condition = np.linalg.norm(gram, 1) * np.linalg.norm(inverse, 1)
        if not condition <= _MAX_CONDITION:
            return None
        b = inverse @ xty
        losses = np.array(
            [float(b[s] @ np.linalg.solve(inverse[s, s], b[s])) for s in blocks], dtype=float
        )
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(losses).all():
        return None
    return float(b @ xty), losses, inverse


def _explained(gram, xty, cols: np.ndarray) -> float:
    """b'X'Wy of the least-squares fit on ``cols`` (RSS = y'Wy minus this)."""
    sub = gram[np.ix_(cols, cols)]
    b = np.linalg.lstsq(sub, xty[cols], rcond=None)[0]
    return float(b @ xty[cols])
