"""CLI verbs beyond train/sample/presets: one module each, with ``register(subparsers)``."""
