"""The rendered FineGym-Split world: label parsing, the parameters' effect on the motion, the renderer,
the splits and label spaces (the shipped gym bundles are tested in test_gym_bundles.py)."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from benchmarks.gym import labels as L
from benchmarks.gym.clips import render_clip
from benchmarks.gym.motion import BUILDERS
from benchmarks.gym.params import PARAMETERS, motion_effects, single_parameter_pairs
from benchmarks.gym.parse import Element, parse
from benchmarks.gym.render import FRAMES, SIZE
from benchmarks.world.splits import WorldSplits

WORLD = L.WORLD
FINE = WORLD.fine_labels()


def test_the_world_covers_the_authors_scheme_and_label_maps():
    scheme = WORLD.scheme()
    assert len(L.GROUPS_A) >= 12 and L.GROUPS_A == tuple(scheme["A"])
    assert len(L.GROUPS_B) >= 12 and L.GROUPS_B == tuple(scheme["B"])
    assert set(scheme["A"]) | set(scheme["B"]) == set(L.GROUPS_A) | set(L.GROUPS_B) | set(L.LEFT_OUT)
    assert len(FINE) == len(set(FINE)) == sum(len(v) for v in scheme["group_scheme"].values())   # all 285
    for model in "AB":  # the authors' mixed-granularity label maps, class for class
        authors = json.loads((L.DATA / f"finegym_split_{model}_labels.json").read_text())
        assert set(WORLD.label_space(model)) == set(authors)
        assert len(WORLD.label_space(model)) == len(set(authors.values()))


def test_every_label_parses_to_its_own_parameters():
    params = {y: parse(y) for y in FINE}
    for y, e in params.items():
        assert y.startswith(f"({e.apparatus}) ") and e.kind in BUILDERS
    counts = Counter(params.values())
    assert max(counts.values()) == 1, [e for e, n in counts.items() if n > 1]   # no two labels render alike


@pytest.mark.parametrize("label, expected", [
    ("(VT) round-off, flic-flac with 0.5 turn on, stretched salto forward with 1.5 turn off",
     dict(kind="vault", entry="roundoff", turn_on=0.5, direction="forward", saltos=1, shape="stretched", twists=1.5)),
    ("(VT) handspring forward on, tucked double salto forward off",
     dict(entry="handspring", saltos=2, shape="tucked", twists=0.0)),
    ("(VT) tsukahara stretched without salto", dict(entry="tsukahara", saltos=0, shape="stretched")),
    ("(FX) double salto backward piked with 1 twist",
     dict(kind="salto", direction="backward", saltos=2, shape="piked", twists=1.0)),
    ("(FX) arabian double salto tucked", dict(direction="forward", saltos=2, turn_before=0.5, twists=0.0)),
    ("(FX) johnson with additional 0.5 turn", dict(kind="jump", pose="johnson", turns=0.75, takeoff="leap")),
    ("(FX) 2 turn in back attitude, knee of free leg at horizontal throughout turn",
     dict(kind="turn", pose="attitude", turns=2.0)),
    ("(BB) straddle pike jump with 0.5 turn in side position",
     dict(kind="jump", pose="straddle", turns=0.5, side_position=True)),
    ("(BB) gainer salto tucked at end of beam", dict(direction="backward", travel="gainer end", shape="tucked")),
    ("(BB) flic-flac with 0.75 twist to side handstand, keep 2 seconds, lower to optional end position",
     dict(kind="flicflac", twists=0.75, landing="handstand")),
    ("(UB) giant circle backward with hop 1 turn to handstand",
     dict(kind="circle", pose="giant", direction="backward", twists=1.0, detail="hop")),
    ("(UB) (swing forward) salto backward stretched with 0.5 turn to hang on high bar",
     dict(kind="release", entry="forward", direction="backward", shape="stretched", twists=0.5, landing="hang")),
    ("(UB) transition flight from low bar to high bar", dict(kind="transition", bars="low-high")),
])
def test_parser_reads_each_part_of_a_label(label, expected):
    e = parse(label)
    assert {k: getattr(e, k) for k in expected} == expected


def test_parser_rejects_text_without_an_apparatus():
    with pytest.raises(ValueError, match="apparatus"):
        parse("salto backward tucked")


def test_every_parameter_changes_the_motion():
    """Pairs of rendered labels that differ in one parameter only: their nuisance-free joint trajectories,
    seen by one side camera at the clip size, differ by at least a pixel where they differ most."""
    pairs = single_parameter_pairs(FINE)
    for p in ("apparatus", "direction", "saltos", "shape", "twists", "entry", "turn_on", "turn_before", "pose",
              "turns", "landing", "takeoff", "travel", "side_position"):
        assert pairs[p], p                      # the label set exercises it ...
    effects = motion_effects(FINE)
    worst = {p: min(e for _, _, e in es) for p, es in effects.items() if es}
    assert set(worst) <= set(PARAMETERS)
    assert min(worst.values()) >= 0.6, worst    # ... and the renderer shows it (measured minimum 0.69 px)


@pytest.mark.parametrize("label", [
    "(VT) round-off, flic-flac on, stretched salto backward with 2.5 turn off", "(FX) whip salto backward",
    "(FX) split leap with 1 turn or more to ring position", "(FX) illusion 1 turn through standing split",
    "(FX) 1 spin or less on back in kip position, hip and leg are closed", "(BB) free aerial round-off",
    "(BB) flic-flac, swing down to cross straddle sit", "(BB) handspring forward with flight to land on one or "
    "both legs, also with support on one arm", "(UB) stalder backward with 1 turn to handstand",
    "(UB) counter straddle over high bar with 0.5 turn to hang", "(UB) transition flight from high bar to low bar",
    "(UB) (swing backward) salto forward with 0.5 turn into salto backward tucked",
])
def test_renders_one_element_of_each_builder(label):
    clip = render_clip(label, seed=0, split="val", index=0)
    assert clip.shape == (FRAMES, SIZE, SIZE, 3) and clip.dtype == np.uint8
    assert clip.std() > 5 and np.abs(np.diff(clip.astype(np.int16), axis=0)).mean() > 0.5


def test_render_rejects_unknown_splits():   # (purity is tested with the SSv2 world's, tests/test_world.py)
    with pytest.raises(ValueError):
        render_clip("(FX) salto backward tucked", 0, "test", 0)


def test_splits_are_deterministic_disjoint_and_complete():
    s = WorldSplits(seed=1, n_train=2, n_val=1, world=WORLD)
    assert s == WorldSplits(seed=1, n_train=2, n_val=1, world=WORLD) and s.clips("val") == s.clips("val")
    every_val = set(s.clips("val"))
    assert len(every_val) == len(FINE)
    for model in "AB":
        assert s.targets(model) == list(WORLD.subset_groups(model))
        for target in s.targets(model):
            eq, un = set(s.equivalent(target)), set(s.unrelated(target))
            assert {c.label for c in eq} == set(WORLD.rendered_groups()[target])
            assert not eq & un and eq | un == every_val
            assert {c.split for c in s.lowshot_pool(target)} == {"train"}
    ref = s.clips("val", ["(UB) giant circle forward"])[0]
    assert np.array_equal(s.render(ref), render_clip(ref.label, 1, "val", 0))
    assert isinstance(parse(ref.label), Element)
