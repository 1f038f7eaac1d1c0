"""catsplit runtime: frozen backbone + swappable head on onnxruntime (CUDA or CPU).

`Runtime`, `Prediction`, `load_views` and friends load lazily, so code that only reads bundles
(the compiler, the exporters) does not import onnxruntime or PyAV.
"""
from catsplit.runtime.bundle import Bundle, BundleError, Preprocess, load_bundle

_LAZY = {
    "Runtime": "catsplit.runtime.session",
    "Head": "catsplit.runtime.session",
    "Prediction": "catsplit.runtime.session",
    "ProviderError": "catsplit.runtime.session",
    "load_views": "catsplit.runtime.video",
    "VideoError": "catsplit.runtime.video",
    "check_external_data": "catsplit.runtime.onnx_guard",
    "OnnxGuardError": "catsplit.runtime.onnx_guard",
}

__all__ = ["Bundle", "BundleError", "Preprocess", "load_bundle", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
