"""The modifier dictionary (docs/method.md §1): prototypes p_g and modifier vectors v_y from the head's rows.

Only groups with at least 2 labels present as separate rows contribute: p_g = mean of W[y] over the
group's rows, v_y = W[y] - p_g (weights only; biases are not part of the dictionary). Groups with one
row are kept apart as singletons (MA trains on them as group name -> W[y]). A group collapsed into one
row named like the group itself (SSv2-Split's mixed-granularity heads) and a label no group lists are
singletons too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from catsplit.compiler.errors import CompileError
from catsplit.compiler.groups import modifiers, rows_per_group


@dataclass(frozen=True)
class Entry:
    label: str
    group: str
    modifier: str
    vector: np.ndarray  # v_y = W[y] - p_g


@dataclass
class Dictionary:
    entries: list[Entry]
    prototypes: dict[str, np.ndarray]
    singletons: dict[str, str] = field(default_factory=dict)  # group name -> its one row's label


def build_dictionary(labels: Sequence[str], w: np.ndarray, groups: Mapping[str, Sequence[str]],
                     overrides: Mapping[str, str] | None = None, source: str = "bundle") -> Dictionary:
    """The dictionary of a head whose row i is labelled labels[i]."""
    index = {y: i for i, y in enumerate(labels)}
    texts = modifiers(groups, labels, overrides)
    entries, prototypes, singletons = [], {}, {}
    for name, rows in rows_per_group(groups, labels).items():
        if len(rows) == 1:
            singletons[name] = rows[0]
            continue
        ws = w[[index[y] for y in rows]]
        p = ws.mean(axis=0)
        prototypes[name] = p
        entries += [Entry(y, name, texts[y], wy - p) for y, wy in zip(rows, ws)]
    if not entries:
        raise CompileError(f"{source}: the group scheme has no group with 2 or more labels present as rows "
                           "of the head, so there is no modifier dictionary to learn from")
    return Dictionary(entries, prototypes, singletons)
