"""An edited bundle of the shipped model A: two heads of different label counts on one backbone.

Runtime tests that need a second head use it (head swaps, concurrent swaps, tampering). It is made by
the real compiler (`compile_split`, modifier retrieval, hierarchical) with the small deterministic text
encoder of tests/edit_bundles.py, since what is under test is the edited bundle, not its quality. The
oldest-onnxruntime venv (`make test-floor`) has no compiler: there the main venv makes the bundle first
(`python -m tests.edited_bundle DIR`) and `CATSPLIT_EDITED_BUNDLE` names it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

MODEL_A = Path(__file__).resolve().parents[1] / "models" / "bundles" / "ssv2_split_A_synth"
SAMPLES = MODEL_A.parent / "samples"
TARGET = "Showing something with spatial relation"
ENV = "CATSPLIT_EDITED_BUNDLE"


def make_edited(out: Path) -> Path:
    """Split TARGET of model A into its group's fine labels (64 labels -> 66) and write it to `out`."""
    from catsplit.compiler.compile import compile_split
    from catsplit.runtime.bundle import load_bundle
    from tests.edit_bundles import HashedBagOfWords

    fine = load_bundle(MODEL_A, verify=False).groups[TARGET]
    spec = {"split": TARGET, "into": [{"label": s} for s in fine]}
    compile_split(MODEL_A, spec, out, method="mr", mode="hierarchical", text_encoder=HashedBagOfWords(),
                  force=True)
    return out


def edited_bundle(tmp: Path) -> Path:
    """The bundle `CATSPLIT_EDITED_BUNDLE` names, else one made under `tmp`."""
    given = os.environ.get(ENV)
    return Path(given) if given else make_edited(tmp / "edited")


if __name__ == "__main__":
    print(make_edited(Path(sys.argv[1])))
