"""SplitOptions: every choice of one split that is not an input file, checked once when made.

Defaults are the documented choices of docs/method.md; each field is a parameter of `compile_split`
that `catsplit-compile` sets from the flag of the same name (docs/cli.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from catsplit.compiler.errors import CompileError
from catsplit.compiler.splice import MODES
from catsplit.compiler.text_encoder import TextEncoder

METHODS = ("mr", "ma")  # zero-shot rows: modifier retrieval, modifier alignment
INITS = (*METHODS, "coarse", "random")  # where low-shot training starts
STOPS = ("patience", "max_epochs")  # why low-shot training stopped (docs/method.md §4)


@dataclass(frozen=True)
class AlignConfig:
    """Modifier alignment's training (docs/method.md §3); max_epochs is ours."""

    hidden: int = 384  # g's hidden units
    lr: float = 1e-3
    batch_size: int = 10
    max_epochs: int = 200
    ema: float = 0.95
    patience: int = 5
    min_delta: float = 1e-3
    ensemble: int = 1  # maps trained (seeds seed..seed+n-1) whose predicted rows are averaged (ours)
    rescale: bool = False  # each new row rescaled to W[c]'s norm (ours; MA's rows are 1.4-1.5x as long)
    with_mr: bool = False  # each new row averaged with MR's row for the same subcategory (ours)


@dataclass(frozen=True)
class ShotConfig:
    """Low-shot fine-tuning (docs/method.md §4). Ours, not the paper's: max_epochs, keep_coarse;
    min_steps (no early stop before that many optimiser steps); penalty (L2 pull towards the starting
    rows, per the clips' mean squared feature norm and per clip a subcategory; 0 = off); cap (new rows'
    norm and bias at most the coarse row's); init_weight (an MA/MR start is W[c] moved this far towards
    the zero-shot rows rescaled to W[c]'s norm); negative_weight (weight of the negatives'
    cross-entropy, when the caller gives negatives)."""

    lr: float = 1e-3
    weight_decay: float = 1e-3
    batch_size: int = 16
    dropout: float = 0.25
    max_epochs: int = 300
    ema: float = 0.95
    patience: int = 5
    min_delta: float = 1e-3
    min_steps: int = 50
    penalty: float = 0.005
    cap: bool = True
    init_weight: float = 0.25
    negative_weight: float = 1.0
    keep_coarse: bool = False


@dataclass(frozen=True)
class RefineConfig:
    """Refinement of the new rows on unlabelled clips (docs/method.md §8); every value is ours."""

    rounds: int = 30           # EM rounds
    prior: float = 1.0         # alpha: weight of the rows' own log-probabilities in each clip's assignment
    temperature: float = 1.0   # tau: width of the clusters, per feature dimension, in standardised units
    sinkhorn_iters: int = 50
    min_clips: int = 2         # per subcategory: with fewer clips called c, the rows are left as they are


@dataclass(frozen=True)
class UnlabelledConfig:
    """What `unlabelled` clips are used for (docs/method.md §8)."""

    refine: bool = True
    locality_target: float = 0.995
    refine_config: RefineConfig = RefineConfig()


# Hierarchical mode (ours): the temperature at which the new rows share c's probability. Below 1 the best
# row takes more of it, so a clip the original model gives to c more often ends on a subcategory than on a
# runner-up label; every prediction that was not c stays as it was at any temperature (docs/method.md §5).
HIER_TEMPERATURE = 0.25


@dataclass(frozen=True)
class SplitOptions:
    """How to compute and splice the new rows.

    method: zero-shot rows by "mr" (modifier retrieval) or "ma" (modifier alignment).
    mode: "flat" (row c replaced by the k rows) or "hierarchical" (they share c's probability).
    init: where low-shot training starts ("ma", "mr", "coarse", "random"); None = `method`. Only
      meaningful with shots, which `compile_split` checks.
    text_encoder: a built-in name, an exported encoder directory, or an encoder object.
    bias_offset: added to every new row's bias (flat mode only; it cancels in hierarchical mode).
    temperature: hierarchical mode only: the subcategories share c's probability as
      softmax((W_new x + b_new) / temperature); None = HIER_TEMPERATURE.
    views: (clips, crops) per shot or unlabelled video, averaged at feature level.
    unlabelled: what unlabelled clips do, when `compile_split` is given some.
    """

    method: str = "ma"
    mode: str = "flat"
    init: str | None = None
    seed: int = 0
    bias_offset: float = 0.0
    temperature: float | None = None
    text_encoder: str | os.PathLike | TextEncoder = "minilm"
    align: AlignConfig = AlignConfig()
    shot_config: ShotConfig = ShotConfig()
    views: tuple[int, int] = (1, 1)
    unlabelled: UnlabelledConfig = UnlabelledConfig()

    def __post_init__(self) -> None:
        def bad(param: str, problem: str) -> CompileError:
            return CompileError(f"`{param}` {problem}", params=(param,))

        if self.method not in METHODS:
            raise bad("method", f"must be one of {METHODS}, got {self.method!r}")
        if self.mode not in MODES:
            raise bad("mode", f"must be one of {MODES}, got {self.mode!r}")
        if self.init is not None and self.init not in INITS:
            raise bad("init", f"must be one of {INITS}, got {self.init!r}")
        if self.bias_offset and self.mode == "hierarchical":
            raise bad("bias_offset", "has no effect in hierarchical mode (it cancels in the log-softmax)")
        if self.temperature is not None and self.mode != "hierarchical":
            raise bad("temperature", "applies to hierarchical mode only (flat rows compete with the old ones as "
                                     "they are)")
        if self.temperature is not None and not 0.0 < self.temperature <= 1e3:
            raise bad("temperature", f"must be in (0, 1000], got {self.temperature}")
        ma_only = [name for name, on in (("ma_rescale", self.align.rescale), ("ma_with_mr", self.align.with_mr),
                                          ("ma_ensemble", self.align.ensemble != 1)) if on]
        if ma_only and self.zero_shot != "ma":  # align.rescale / with_mr / ensemble: silently unused otherwise
            raise CompileError(f"`{ma_only[0]}` changes MA's rows, but this split computes none (it starts from "
                               f"{self.start!r}); choose `method` ma, or `init` ma with shots",
                               params=(ma_only[0], "method", "init"))
        if not 0.0 < self.unlabelled.locality_target <= 1.0:
            raise bad("locality_target", f"must be in (0, 1], got {self.unlabelled.locality_target}")
        if self.views[0] < 1 or self.views[1] not in (1, 3):
            raise bad("views", f"must be (clips >= 1, crops 1 or 3), got {self.views}")

    @property
    def sharing_temperature(self) -> float | None:
        """The temperature at which the new rows share c's probability (hierarchical mode), else None."""
        if self.mode != "hierarchical":
            return None
        return HIER_TEMPERATURE if self.temperature is None else self.temperature

    @property
    def start(self) -> str:
        """The rows' starting point: `init`, else the zero-shot `method`."""
        return self.init or self.method

    @property
    def zero_shot(self) -> str | None:
        """The zero-shot method that computes rows ("mr"/"ma"), or None for coarse/random starts."""
        return self.start if self.start in METHODS else None
