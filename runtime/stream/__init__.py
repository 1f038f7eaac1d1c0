"""Live video: classify camera streams continuously, and take new heads without stopping.

`stream(runtime, sources, ...)` / `StreamRunner` (runner.py) is the API; `catsplit-run BUNDLE
--stream SOURCE` the command (cli.py); `catsplit deploy` publishes a new head (deploy.py);
`catsplit send` plays video files as a live stream (send.py). docs/streaming.md describes it all.
The names load lazily, so the command line can take the options without importing PyAV.
"""
_LAZY = {
    "EventRule": "catsplit.runtime.stream.results",
    "Retry": "catsplit.runtime.stream.reader",
    "Source": "catsplit.runtime.stream.sources",
    "SourceError": "catsplit.runtime.stream.sources",
    "load_sources": "catsplit.runtime.stream.sources",
    "parse_source": "catsplit.runtime.stream.sources",
    "StreamOptions": "catsplit.runtime.stream.runner",
    "StreamRunner": "catsplit.runtime.stream.runner",
    "stream": "catsplit.runtime.stream.runner",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
