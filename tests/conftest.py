import os

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


import pytest  # noqa: E402


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marks
def pytest_collection_modifyitems(items):
    """Tests that need the exported MiniLM are slow: exporting it costs each worker ~20 s (`make test-fast`
    leaves them out, `make test` runs them)."""
    for item in items:
        if "minilm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def text_cache(tmp_path_factory):
    """A private CATSPLIT_CACHE for the run (one per xdist worker): minilm is exported into it once."""
    root = tmp_path_factory.getbasetemp() / "catsplit-cache"
    root.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CATSPLIT_CACHE", str(root))
        yield root


@pytest.fixture(scope="session")
def minilm(text_cache):
    """The built-in text encoder (all-MiniLM-L6-v2 exported to ONNX), loaded once per run."""
    from catsplit.compiler.text_encoder import load_text_encoder

    return load_text_encoder("minilm")


@pytest.fixture(scope="session")
def runtime_fixtures(tmp_path_factory):
    """tests/runtime_fixtures.py's folder (an edited bundle of model A, the caps probe), made once per run."""
    from tests.runtime_fixtures import fixtures_dir

    return fixtures_dir(tmp_path_factory.getbasetemp())


# ---- the streaming tests' fixtures (helpers in tests/stream_media.py) -----------------------------------

@pytest.fixture(scope="module")
def runtime_a():
    """Model A's Runtime on one thread, shared by a module's tests."""
    from catsplit.runtime.session import Runtime
    from tests.stream_media import BUNDLE_A

    return Runtime(BUNDLE_A, threads=1)


@pytest.fixture(scope="session")
def clip64(tmp_path_factory):
    """Four world clips, 64 frames, as one H.264 file: 25 windows at stream_media's WINDOW / STRIDE."""
    from tests.stream_media import CLIP_SAMPLES, encode, sample_frames

    return encode(tmp_path_factory.mktemp("stream") / "clip64.mp4", sample_frames(CLIP_SAMPLES))


@pytest.fixture()
def heads(tmp_path):
    """`stream_media.make_heads`: model A deployed as `current`, and bundles to hot-swap in."""
    from tests.stream_media import make_heads

    return make_heads(tmp_path)
