"""A rendered benchmark world as one object: its authors' group scheme, the groups it renders, its
renderer and the clip format its models read.

Two worlds exist: SSv2-Split-Synth (`benchmarks/world`, name "ssv2") and FineGym-Split-Synth
(`benchmarks/gym`, name "gym"). The machinery they share (splits, mp4 writing, contact sheets,
training, reports, the edit-quality benchmark) takes a `Domain`, or its name through `get`. The label
spaces follow the authors' benchmark in both: model A sees every rendered subset-A group collapsed to
its group name (the split targets) and every other rendered label fine; model B is the mirror image.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from catsplit.runtime.bundle import Preprocess

# name -> the module whose WORLD is that Domain (imported on first use)
WORLDS = {"ssv2": "benchmarks.world.labels", "gym": "benchmarks.gym.labels"}
BUNDLES = Path(__file__).resolve().parents[2] / "models" / "bundles"


@dataclass(frozen=True)
class Domain:
    name: str                          # the --world value
    title: str                         # how results are labelled ("SSv2-Split-Synth")
    scheme_file: Path                  # the authors' {"group_scheme", "A", "B"} (a verbatim copy)
    groups_a: tuple[str, ...]          # rendered subset-A groups: model A's split targets
    groups_b: tuple[str, ...]
    singletons: tuple[str, ...]        # rendered one-label groups
    clips: str                         # module with render_clip(label, seed, split, index)
    sources: tuple[Path, ...]          # the renderer's source files (their digest keys every cache)
    preprocess: Preprocess             # how the runtime reads a clip (bundle.json's preprocessing)
    frames: int                        # rendered frames per clip
    size: int                          # rendered frame size
    bundle_prefix: str                 # models/bundles/<prefix>_<A|B>_synth

    def scheme(self) -> dict:
        """The authors' full group scheme (group_scheme, A, B)."""
        return _read_json(self.scheme_file)

    def rendered_groups(self) -> dict[str, list[str]]:
        """Group name -> fine labels, restricted to the rendered groups (singletons included)."""
        gs = self.scheme()["group_scheme"]
        return {g: list(gs[g]) for g in (*self.groups_a, *self.groups_b, *self.singletons)}

    def fine_labels(self) -> list[str]:
        """Every rendered fine label, in a fixed order (subset A groups, subset B groups, singletons)."""
        return [label for labels in self.rendered_groups().values() for label in labels]

    def subset_groups(self, model: str) -> tuple[str, ...]:
        """The groups collapsed to their names in `model` ("A" or "B"): its split targets."""
        return {"A": self.groups_a, "B": self.groups_b}[model]

    def label_space(self, model: str) -> list[str]:
        """Model A/B's classes: collapsed group names of its subset, then every other label fine. A group
        name that is also a fine label of the other subset is one class, as in the authors' label maps
        (FineGym-Split A: "(BB) salto forward tucked")."""
        collapsed = self.subset_groups(model)
        classes = []
        for group, labels in self.rendered_groups().items():
            classes.extend([group] if group in collapsed else labels)
        return list(dict.fromkeys(classes))

    def class_of(self, model: str) -> dict[str, str]:
        """Fine label -> the class it carries in `model`'s label space."""
        collapsed = self.subset_groups(model)
        return {label: (group if group in collapsed else label)
                for group, labels in self.rendered_groups().items() for label in labels}

    def render(self, label: str, seed: int = 0, split: str = "train", index: int = 0) -> np.ndarray:
        """uint8 RGB frames [frames, size, size, 3] of clip `index` of `label` (a pure function of its args)."""
        return importlib.import_module(self.clips).render_clip(label, seed, split, index)

    def version(self) -> str:
        """Digest of the renderer's source: a cache of rendered clips is stale once any of it changes."""
        h = hashlib.sha256()
        for path in self.sources:
            h.update(path.read_bytes())
        return h.hexdigest()[:12]

    def bundle(self, model: str) -> Path:
        """Where the shipped base model A or B of this world lives."""
        return BUNDLES / f"{self.bundle_prefix}_{model}_synth"


@lru_cache(maxsize=None)
def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def get(name: str) -> Domain:
    """The world called `name` ("ssv2" or "gym")."""
    if name not in WORLDS:
        raise KeyError(f"no world {name!r}; worlds: {', '.join(WORLDS)}")
    return importlib.import_module(WORLDS[name]).WORLD
