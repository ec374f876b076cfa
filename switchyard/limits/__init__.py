"""Rate limits (requests, tokens, concurrency) and budgets, in-process or shared through Redis."""
