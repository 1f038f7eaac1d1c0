"""What the runtime-only tests need that only the workstation side (compiler, onnx) can make.

- `edited/`: an edit of the shipped model A (two heads of different label counts on one backbone), made
  by the real compiler (`compile_split`, modifier retrieval, hierarchical) with the small deterministic
  text encoder of tests/edit_bundles.py: what is under test is the edited bundle, not its quality.
- `caps.onnx`: a one-node model stamped with the bundle writers' caps (models/onnx_io.py MAX_IR_VERSION,
  MAX_OPSET), so a runtime test proves that the onnxruntime it runs on loads everything they write.

`python -m tests.runtime_fixtures DIR` writes both into DIR; with `CATSPLIT_RUNTIME_FIXTURES=DIR` the tests
use those instead of making their own. The oldest-onnxruntime venv (`make test-floor`) has neither the
compiler nor onnx, so there the main venv makes them first.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

MODEL_A = Path(__file__).resolve().parents[1] / "models" / "bundles" / "ssv2_split_A_synth"
MODEL_B = MODEL_A.parent / "ssv2_split_B_synth"
SAMPLES = MODEL_A.parent / "samples"
TARGET = "Showing something with spatial relation"
ENV = "CATSPLIT_RUNTIME_FIXTURES"


def make_fixtures(out: Path) -> Path:
    """Write `out/edited` (TARGET of model A split into its group's fine labels: 64 -> 66 labels) and
    `out/caps.onnx`."""
    import onnx
    from onnx import TensorProto, helper

    from catsplit.compiler.compile import compile_split
    from catsplit.models.onnx_io import MAX_IR_VERSION, MAX_OPSET
    from catsplit.runtime.bundle import load_bundle
    from tests.edit_bundles import HashedBagOfWords

    out.mkdir(parents=True, exist_ok=True)
    fine = load_bundle(MODEL_A, verify=False).groups[TARGET]
    compile_split(MODEL_A, {"split": TARGET, "into": [{"label": s} for s in fine]}, out / "edited",
                  method="mr", mode="hierarchical", text_encoder=HashedBagOfWords(), force=True)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "caps",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", MAX_OPSET)])
    model.ir_version = MAX_IR_VERSION
    onnx.save(model, str(out / "caps.onnx"))
    return out


def fixtures_dir(tmp: Path) -> Path:
    """The folder `CATSPLIT_RUNTIME_FIXTURES` names, else one made under `tmp`."""
    given = os.environ.get(ENV)
    return Path(given) if given else make_fixtures(tmp / "runtime-fixtures")


if __name__ == "__main__":
    print(make_fixtures(Path(sys.argv[1])))
