"""A Triton python-backend model that runs the `model.onnx` beside it with onnxruntime.

`catsplit triton export --backend python` copies this file into every model version as `model.py`,
for servers that have the python backend but not the onnxruntime one. Triton's stub imports it in
its own interpreter: that Python needs numpy and onnxruntime (see docs/scale.md). Requests that the
dynamic batcher groups are run as one onnxruntime call. The `intra_op_thread_count` parameter means
what it means to Triton's onnxruntime backend.
"""
import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.input = config["input"][0]["name"]
        self.output = config["output"][0]["name"]
        options = ort.SessionOptions()
        threads = config.get("parameters", {}).get("intra_op_thread_count", {}).get("string_value")
        if threads:
            options.intra_op_num_threads = int(threads)
        providers = ["CPUExecutionProvider"]
        if args["model_instance_kind"] == "GPU":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(args["model_instance_device_id"])}))
        model = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(model, options, providers=providers)

    def execute(self, requests):
        arrays = [pb_utils.get_input_tensor_by_name(r, self.input).as_numpy() for r in requests]
        try:
            out = self.session.run([self.output], {self.input: np.concatenate(arrays)})[0]
        except Exception as e:  # every request of the batch gets the error, the model stays up
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(str(e))) for _ in requests]
        parts = np.split(out, np.cumsum([len(a) for a in arrays])[:-1])
        return [pb_utils.InferenceResponse([pb_utils.Tensor(self.output, part)]) for part in parts]
