"""The Users service's domain: accounts, roles, resource-level access, the user cache."""
