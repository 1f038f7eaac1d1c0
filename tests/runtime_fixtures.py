"""What the runtime-only tests need that only the workstation side (compiler, onnx) can make.

- `edited/`: an edit of the shipped model A (two heads of different label counts on one backbone), made
  by the real compiler (`compile_split`, modifier retrieval, hierarchical) with the small deterministic
  text encoder of tests/edit_bundles.py: what is under test is the edited bundle, not its quality.
- `caps.onnx`: a one-node model stamped with the bundle writers' caps (models/onnx_io.py MAX_IR_VERSION,
  MAX_OPSET), so a runtime test proves that the onnxruntime it runs on loads everything they write.
- `bad_heads/*.onnx`: heads for model A's 256 features that onnxruntime refuses or fails on, each in its own
  way (BAD_HEADS), for the hostile-input corpus.

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
# name -> what onnxruntime makes of it
BAD_HEADS = {"ir_99": "IR version 99 (load fails)", "opset_99": "opset 99 (load fails)",
             "type_mismatch": "float input times double weights (load fails)",
             "symbolic_mismatch": "symbolic [B, D] input times a [7, 64] weight (loads, fails when run)"}


def make_fixtures(out: Path) -> Path:
    """Write `out/edited` (TARGET of model A split into its group's fine labels: 64 -> 66 labels) and
    `out/caps.onnx`."""
    import onnx
    from onnx import TensorProto, helper

    from catsplit.compiler.compile import compile_split
    from catsplit.compiler.options import SplitOptions
    from catsplit.models.onnx_io import MAX_IR_VERSION, MAX_OPSET
    from catsplit.runtime.bundle import load_bundle
    from tests.edit_bundles import HashedBagOfWords

    out.mkdir(parents=True, exist_ok=True)
    fine = load_bundle(MODEL_A, verify=False).groups[TARGET]
    options = SplitOptions(method="mr", mode="hierarchical", text_encoder=HashedBagOfWords())
    compile_split(MODEL_A, {"split": TARGET, "into": [{"label": s} for s in fine]}, out / "edited", options,
                  force=True)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "caps",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", MAX_OPSET)])
    model.ir_version = MAX_IR_VERSION
    onnx.save(model, str(out / "caps.onnx"))
    (out / "bad_heads").mkdir(exist_ok=True)
    for name in BAD_HEADS:
        onnx.save(_bad_head(name), str(out / "bad_heads" / f"{name}.onnx"))
    return out


def _bad_head(name: str):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    dims = ["B", "D"] if name == "symbolic_mismatch" else ["B", 256]
    weight = np.ones((7, 64) if name == "symbolic_mismatch" else (256, 64),
                     np.float64 if name == "type_mismatch" else np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["features", "W"], ["logits"])], "head",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 64])],
                              [numpy_helper.from_array(weight, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 99 if name == "opset_99" else 17)])
    model.ir_version = 99 if name == "ir_99" else 9
    return model


def provider_here() -> str:
    """The provider onnxruntime itself runs model A's head on when offered CUDA first: CUDA only where this
    onnxruntime has it and it starts (asked of onnxruntime directly, not of the runtime's own probe)."""
    import onnxruntime as ort

    cpu, cuda = "CPUExecutionProvider", "CUDAExecutionProvider"
    if cuda not in ort.get_available_providers():
        return cpu
    return ort.InferenceSession(str(MODEL_A / "head.onnx"), providers=[cuda, cpu]).get_providers()[0]


def fixtures_dir(tmp: Path) -> Path:
    """The folder `CATSPLIT_RUNTIME_FIXTURES` names, else one made under `tmp`."""
    given = os.environ.get(ENV)
    return Path(given).resolve() if given else make_fixtures(tmp / "runtime-fixtures")


if __name__ == "__main__":
    print(make_fixtures(Path(sys.argv[1])))
