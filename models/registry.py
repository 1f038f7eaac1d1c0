"""Models that `catsplit export --model NAME` knows: NAME -> "module:factory".

A factory is called as `factory(num_classes, weights)` (weights: a checkpoint path or None) and returns
`(backbone, head, preprocess)`: the backbone maps video to features [B, D], the head is an nn.Linear
[D -> num_classes], preprocess is a `Preprocess` or None when the model has no default (then the user
gives --preprocess). `--model` also takes a "module:factory" path directly, for models outside the package.
"""
from __future__ import annotations

import importlib
from typing import Callable

import torch
from torch import nn

from catsplit.runtime.bundle import Preprocess
from catsplit.runtime.errors import CatsplitError

Parts = tuple[nn.Module, nn.Linear, Preprocess | None]
MODELS = {"catnet_s": "catsplit.models.registry:catnet_s_parts"}


class RegistryError(CatsplitError, ValueError):
    """A model name that does not resolve to a factory."""


def resolve(name: str) -> Callable[[int, str | None], Parts]:
    target = MODELS.get(name, name)
    module, _, attr = target.partition(":")
    if not attr:
        raise RegistryError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))}, or give module:factory)")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise RegistryError(f"model {name!r}: cannot load {target} ({e})") from None


def catnet_s_parts(num_classes: int, weights: str | None = None) -> Parts:
    """CatNet-S from a checkpoint: a state_dict, or {"state_dict": ...} as benchmarks.world.train saves.
    Its input size depends on the data it was trained on, so there is no default preprocessing."""
    from catsplit.models.catnet import Backbone, catnet_s

    net = catnet_s(num_classes)
    if weights is not None:
        ckpt = torch.load(weights, map_location="cpu", weights_only=True)  # no pickled code from a checkpoint
        net.load_state_dict(ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt)
    head, net.head = net.head, nn.Identity()
    return Backbone(net).eval(), head, None
