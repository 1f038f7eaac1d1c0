"""The group proposer against the authors' SSv2-Split and FineGym-Split schemes (issue 12's goal), the
modifiers it learns from a label set, and its namespace rule."""
from __future__ import annotations

import json

import pytest

from benchmarks.proposer.bench import HERE as BENCH, learnt_modifiers
from benchmarks.world.domain import get
from catsplit.compiler.propose import (Modifiers, ProposerSettings, differing_spans, label_words, namespace,
                                       pairwise_agreement, propose_groups)

GOAL = 0.85


def labels_of(reference: dict[str, list[str]]) -> list[str]:
    return [y for members in reference.values() for y in members]


def scores(encoder) -> dict[str, dict[str, float]]:
    out = {}
    for world in ("ssv2", "gym"):
        reference = get(world).scheme()["group_scheme"]
        out[world] = pairwise_agreement(propose_groups(labels_of(reference), encoder), reference)
    return out


@pytest.mark.xfail(strict=True, reason="not reached: 0.75 (SSv2-Split) and 0.58 (FineGym-Split); "
                                       "benchmarks/results/proposer.md says why")
def test_proposer_reaches_the_goal_on_both_authors_schemes(minilm):
    f1 = {w: s["f1"] for w, s in scores(minilm).items()}
    assert min(f1.values()) >= GOAL, f1


def test_proposer_keeps_its_measured_agreement(minilm):
    s = scores(minilm)
    assert s["ssv2"]["f1"] >= 0.73 and s["ssv2"]["precision"] >= 0.74     # measured 0.747 (0.756 / 0.739)
    assert s["gym"]["f1"] >= 0.56 and s["gym"]["precision"] >= 0.6       # measured 0.577 (0.636 / 0.529)


def test_held_out_label_sets_do_not_collapse(minilm):
    held = json.loads((BENCH / "heldout.json").read_text(encoding="utf-8"))
    f1 = {name: pairwise_agreement(propose_groups(labels_of(doc["group_scheme"]), minilm), doc["group_scheme"])["f1"]
          for name, doc in held.items()}
    assert f1["jester"] >= 0.75 and f1["figure_skating"] >= 0.5, f1    # measured 0.80, 0.54


def test_modifiers_are_learnt_from_the_label_set(minilm):
    gym = learnt_modifiers(labels_of(get("gym").scheme()["group_scheme"]), minilm)
    assert {"0.5", "1", "1.5", "2", "piked", "tucked"} <= set(gym["words"])   # counts and body shapes
    assert {"double", "stretched", "with turn", "with twist"} <= set(gym["phrases"])
    assert not {"forward", "backward", "salto"} & set(gym["words"])            # a main axis, a head
    ssv2 = learnt_modifiers(labels_of(get("ssv2").scheme()["group_scheme"]), minilm)
    assert {"behind", "onto", "underneath"} <= set(ssv2["words"]) and "next to" in ssv2["phrases"]
    assert not {"pushing", "pulling", "putting", "dropping", "something"} & set(ssv2["words"])  # verbs are heads


def test_a_skeleton_drops_modifier_words_and_optional_phrases():
    mods = Modifiers(frozenset({"tucked", "1"}), frozenset({("with", "turn"), ("double",)}))
    assert mods.skeleton(label_words("(FX) double salto backward tucked with 1 turn")) == ("salto", "backward")
    assert mods.skeleton(("double",)) == ("double",)                  # never all of a label
    assert differing_spans(("a", "b", "c"), ("a", "x", "y", "c")) == (1, ("b",), ("x", "y"))
    labels = ["(FX) salto backward tucked", "(FX) double salto backward tucked with 1 turn", "(FX) salto forward"]
    assert len(propose_groups(labels)) == 3                            # words only: nothing is a modifier
    assert propose_groups(labels, settings=ProposerSettings(min_words=1)) == {  # one word past the namespace
        "(FX) salto": [labels[0], labels[2]], labels[1]: [labels[1]]}


def test_a_leading_tag_is_a_namespace_the_join_does_not_cross(minilm):
    assert namespace("(FX) tuck hop or jump with 1 turn") == "(fx)" and namespace("Swiping Left") == ""
    assert namespace("(swing forward) salto backward") == "(swing forward)"
    assert label_words("(FX) round-off, flic-flac with 1.5 turn") == ("round", "off", "flic", "flac", "with", "1.5",
                                                                       "turn")
    # no shared leading words: only the embedding join can group these two (it does for SSv2's texts)
    same = propose_groups(["(FX) Squeezing something", "(FX) Pretending to squeeze something"], minilm)
    apart = propose_groups(["(FX) Squeezing something", "(BB) Pretending to squeeze something"], minilm)
    assert len(same) == 1 and len(apart) == 2


def test_no_grouping_by_true_element_parameters_reaches_the_goal_on_finegym():
    """The evidence behind "blocked" (benchmarks/results/proposer.md): keys over the gym parser's true
    parameters, fitted greedily to the authors' scheme itself, one key for all or one per apparatus."""
    from benchmarks.proposer.bench import parameter_ceiling

    for per_apparatus, measured in ((False, 0.698), (True, 0.795)):
        path = parameter_ceiling(per_apparatus)
        f1 = [f for f, _ in path]
        assert f1 == sorted(f1) and len(set(f1)) == len(f1)     # every step gains
        assert f1[-1] == pytest.approx(measured, abs=1e-3) and f1[-1] < GOAL
        keys = path[-1][1]
        assert (set(keys) == {""}) != per_apparatus and all(keys.values())
