"""The request pipeline: stages around the executor. Testable without HTTP."""
