"""The stages the pipeline can run."""
