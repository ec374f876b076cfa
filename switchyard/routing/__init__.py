"""Choosing a deployment and driving the attempts: strategies, the executor, its trace."""
