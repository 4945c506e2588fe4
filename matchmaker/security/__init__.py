"""The node's own protections: response headers, login lockout, two-factor login, log scrubbing,
and the retention policy. See docs/security.md for what each protects against and its settings."""
