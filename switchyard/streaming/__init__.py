"""Stream framing: Server-Sent Events (and, later, the AWS event-stream decoder)."""
