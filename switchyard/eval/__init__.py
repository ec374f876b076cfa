"""Offline router evaluation by replaying stored outcomes: RouteLLM's APGR/CPT, RouterBench's AIQ and Pareto
hulls, FrugalGPT-style cascades. Entry points are in ``experiments`` (used by ``switchyard.cli_eval``)."""
