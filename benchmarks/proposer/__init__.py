"""Scores `catsplit groups propose` against hand-made group schemes.

    python -m benchmarks.proposer          # writes benchmarks/results/proposer.{md,json}

Modules: bench (label sets, scoring, leave-one-data-set-out grid, the FineGym parameter ceiling);
heldout.json (two held-out label sets and the grouping we wrote down for them, with their sources).
"""
