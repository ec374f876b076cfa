"""Process-level tuning for gateway processes the CLI starts (never applied by create_app itself)."""

from __future__ import annotations


def tune_gc() -> None:
    """Keep garbage-collection pauses out of the latency tail of a long-running server.

    Everything alive after start-up (modules, config, the app) lives as long as the process: freezing it
    takes it out of every future full collection, and a larger young generation makes collections rarer.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
