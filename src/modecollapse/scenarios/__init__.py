"""Collapse beyond GANs, one module or package each, registered with
:func:`modecollapse.experiments.register_scenario` and run by ``modecollapse scenario NAME``."""
