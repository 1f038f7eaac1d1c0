"""The group proposer against the authors' SSv2-Split and FineGym-Split schemes (issue 12's goal), and its
namespace rule."""
from __future__ import annotations

import pytest

from benchmarks.world.domain import get
from catsplit.compiler.propose import namespace, pairwise_agreement, propose_groups

GOAL = 0.85


def scores(encoder) -> dict[str, dict[str, float]]:
    out = {}
    for world in ("ssv2", "gym"):
        reference = get(world).scheme()["group_scheme"]
        labels = [y for members in reference.values() for y in members]
        out[world] = pairwise_agreement(propose_groups(labels, encoder), reference)
    return out


@pytest.mark.xfail(strict=True, reason="not reached: 0.74 (SSv2-Split) and 0.49 (FineGym-Split); "
                                       "benchmarks/results/proposer.md says why")
def test_proposer_reaches_the_goal_on_both_authors_schemes(minilm):
    f1 = {w: s["f1"] for w, s in scores(minilm).items()}
    assert min(f1.values()) >= GOAL, f1


def test_proposer_keeps_its_measured_agreement(minilm):
    s = scores(minilm)
    assert s["ssv2"]["f1"] >= 0.72 and s["ssv2"]["precision"] >= 0.75     # measured 0.741 (0.78 / 0.70)
    assert s["gym"]["f1"] >= 0.47 and s["gym"]["precision"] >= 0.6        # measured 0.489 (0.62 / 0.40)


def test_a_leading_tag_is_a_namespace_the_join_does_not_cross(minilm):
    assert namespace("(FX) tuck hop or jump with 1 turn") == "(fx)" and namespace("Swiping Left") == ""
    assert namespace("(swing forward) salto backward") == "(swing forward)"
    # no shared leading words: only the embedding join can group these two (it does for SSv2's texts)
    same = propose_groups(["(FX) Squeezing something", "(FX) Pretending to squeeze something"], minilm)
    apart = propose_groups(["(FX) Squeezing something", "(BB) Pretending to squeeze something"], minilm)
    assert len(same) == 1 and len(apart) == 2
