"""Thin route handlers: decode, call the pipeline, encode. No decisions live here."""
