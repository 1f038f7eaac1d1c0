"""FineGym-Split-Synth: the second rendered world (FineGym-Split's label texts and group scheme, a rendered
gymnast whose motion is parsed from each label).

Commands (run from the repo root; the world's shared machinery lives in benchmarks/world, --world gym):
    python -m benchmarks.world.contact_sheet --world gym --out out/gym_sheets [--labels ...]
    python -m benchmarks.world.write_mp4 --world gym --samples --per-target 1 --out models/bundles/finegym_samples
    python -m benchmarks.world.train --world gym --model A --out out/gym/A --bundle models/bundles/finegym_split_A_synth
    python -m benchmarks.world.report --world gym --samples models/bundles/finegym_samples out/gym/A out/gym/B
    python -m benchmarks.gym.params [--run out/gym/A --run out/gym/B]     # does every parameter show?
    python -m benchmarks.edit_quality --world gym ...                      # see benchmarks/results/gym_models.md

Modules: labels (the rendered groups, the world as a Domain), parse (label text -> Element parameters),
body (skeleton, poses, forward kinematics), motion (one builder per kind of element: keyframes and
contacts -> 3D joints), render (camera, arena, apparatus, figure), clips (clip = f(seed, label, split,
index)), params (the per-parameter checks).
"""
