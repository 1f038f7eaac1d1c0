"""Bundle makers: ONNX import by graph surgery, PyTorch export, our own models, shipped bundles."""
