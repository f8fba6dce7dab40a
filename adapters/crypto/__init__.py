"""Encryption at rest: AES-256-GCM envelopes with a keyring, and the HMAC blind index."""
