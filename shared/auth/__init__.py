"""The Auth service's domain: passwords, tokens, sessions, revocation."""
