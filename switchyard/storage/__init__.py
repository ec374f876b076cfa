"""Storage seams and their backends (embedded: memory and SQLite; scale-out backends come later)."""
