"""The conformance matrix: every inbound format × every provider × every scenario, against the fake upstreams.

Run it with ``pytest tests/conformance``; regenerate the table in docs/providers.md with
``python -m tests.conformance.report --write docs/providers.md``.
"""
