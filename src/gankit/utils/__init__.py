"""Layer 0: small helpers every other layer may use (atomic writes, JSON lines, the data cache,
plotting set-up, registries, the environment record). They import nothing else from gankit except
errors."""
