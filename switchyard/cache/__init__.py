"""Response caching: the exact cache (canonical key, entries, policy, memory and Redis backends) and the seam for the
semantic index. Nothing here knows HTTP or the pipeline; ``pipeline.cache`` applies it to requests."""
