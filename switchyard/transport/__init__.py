"""Pooled HTTP to upstreams. Transport exceptions become typed errors here and nowhere else."""

from switchyard.transport.http import HttpTransport, Timeouts, UpstreamResponse, UpstreamStream

__all__ = ["HttpTransport", "Timeouts", "UpstreamResponse", "UpstreamStream"]
