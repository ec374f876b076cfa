"""The HTTP edge: thin routes, the error envelope, and ``create_app``, the composition root."""
