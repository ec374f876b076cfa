"""Inbound wire formats other than OpenAI's, translated to and from the canonical request at the edge."""
