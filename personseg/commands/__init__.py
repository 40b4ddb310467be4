"""Sub-commands of the ``personseg`` CLI, one module each, each exposing ``register(subparsers)``."""
