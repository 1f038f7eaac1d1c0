"""catsplit runtime: frozen backbone + swappable head on onnxruntime (CUDA or CPU)."""
from catsplit.runtime.bundle import Bundle, BundleError, Preprocess, load_bundle

__all__ = ["Bundle", "BundleError", "Preprocess", "load_bundle"]
