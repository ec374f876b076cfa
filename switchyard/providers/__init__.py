"""Provider adapters: canonical request ⇄ each provider's wire format."""
