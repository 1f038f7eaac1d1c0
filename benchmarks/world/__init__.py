"""SSv2-Split-Synth: the rendered benchmark world (real SSv2 label texts and group scheme, procedural clips).

Commands (run from the repo root):
    python -m benchmarks.world.contact_sheet --out out/sheets [--labels ...]     # PNG grid per label
    python -m benchmarks.world.write_mp4 --split val --out out/world/val_mp4      # H.264 clips + clips.csv
    python -m benchmarks.world.write_mp4 --samples --out models/bundles/samples   # shipped sample clips
    python -m benchmarks.world.train --model A --out out/world/A --bundle models/bundles/ssv2_split_A_synth
    python -m benchmarks.world.probe                                               # modifier-vector cosines
    python -m benchmarks.world.report out/world/A out/world/B                      # accuracy tables

Modules: labels (which groups, label spaces), render (rasteriser), scene (building blocks), scripts
(one per label), clips (clip = f(seed, label, split, index)), splits (targets, equivalent/unrelated
sets, low-shot pools, cached arrays), write_mp4, contact_sheet, train, probe, report.
"""
