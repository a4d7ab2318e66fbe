"""The seed articles' experiments, one module each, registered with
:func:`modecollapse.experiments.register_diagnostic` and run by ``modecollapse diagnose NAME``."""
