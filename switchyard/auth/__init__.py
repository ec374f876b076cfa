"""Identity: virtual-key secrets and hashes, principals built from stored keys and teams, the per-request
authenticator with its TTL cache, role rules, and the admin operations on keys, teams and users."""
