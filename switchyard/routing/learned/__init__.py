"""Routers trained offline and loaded from a file: numpy-only inference, training with scikit-learn.

Importing this package needs numpy (the ``router`` extra); nothing in the gateway imports it unless a learned
router is configured.
"""

from switchyard.routing.learned.router import FORMAT, KINDS, VERSION, LearnedRouter, RouterFileError

__all__ = ["FORMAT", "KINDS", "VERSION", "LearnedRouter", "RouterFileError"]
