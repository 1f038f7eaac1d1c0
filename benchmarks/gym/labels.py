"""Which FineGym-Split groups the rendered gym world contains, and the world as a `Domain` (`WORLD`).

Groups are the authors' (data/finegym_split_group_scheme.json, verbatim: 56 groups over 285 FineGym
element labels, the 42 multi-label groups divided into subsets A and B). The renderer derives every
element's motion from its label text (`parse`), so it renders every group: all 23 subset-A groups,
all 19 subset-B groups and the 14 singletons. Model A sees the subset-A groups collapsed to their group
names (the split targets) and every other label fine; model B is the mirror image.
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.gym.render import FRAMES, SIZE
from benchmarks.world.domain import Domain
from catsplit.runtime.bundle import Preprocess

DATA = Path(__file__).with_name("data")
HERE = Path(__file__).parent
WORLD_DIR = HERE.parent / "world"
# All 16 rendered frames (twists need the temporal resolution: up to 3.5 turns in a ~10-frame flight),
# short side kept at the rendered 56, centre crop 48.
PREPROCESS = Preprocess(num_frames=16, crop=48, resize=SIZE, layout="NCTHW", sampling="uniform")

_SCHEME = json.loads((DATA / "finegym_split_group_scheme.json").read_text(encoding="utf-8"))
GROUPS_A = tuple(_SCHEME["A"])
GROUPS_B = tuple(_SCHEME["B"])
SINGLETONS = tuple(g for g, labels in _SCHEME["group_scheme"].items()
                   if len(labels) == 1 and g not in _SCHEME["A"] and g not in _SCHEME["B"])

# Multi-label groups that are not rendered, and why (none: every label parses into an element the
# renderer animates; see parse.py for what each label's parameters are).
LEFT_OUT: dict[str, str] = {}

WORLD = Domain(
    name="gym", title="FineGym-Split-Synth", scheme_file=DATA / "finegym_split_group_scheme.json",
    groups_a=GROUPS_A, groups_b=GROUPS_B, singletons=SINGLETONS, clips="benchmarks.gym.clips",
    sources=(*(HERE / n for n in ("parse.py", "body.py", "motion.py", "render.py", "clips.py")),
             *(WORLD_DIR / n for n in ("render.py", "scene.py", "clips.py"))),
    preprocess=PREPROCESS, frames=FRAMES, size=SIZE, bundle_prefix="finegym_split")
