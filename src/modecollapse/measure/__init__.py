"""Measuring any generator's samples against real data (``modecollapse measure`` and the
Python API): :mod:`.core` (the metric registry :data:`METRICS`, their parameters and the
:class:`Session` that computes them once per input), :mod:`.io` (sample files, image
folders and extractor features with their cache) and :mod:`.sequences` (token sequences).
The metrics themselves live in :mod:`modecollapse.metrics`.
"""
from ..registry import lazy_exports

_CORE = ("METRICS", "MetricSpec", "Session", "Inputs", "MeasureParams", "measure", "default_metrics",
         "DEFAULT_METRICS", "PRParams", "DCParams", "KIDParams", "VendiParams", "NDBParams", "BirthdayParams",
         "ISCParams", "MIParams", "MemorisationParams")
_IO = ("load_images", "load_raw", "load_features", "extract_cached", "load_network_outputs")
__all__ = [*_CORE, *_IO, "measure_sequences", "load_sequences"]
__getattr__, __dir__ = lazy_exports(__name__, {**dict.fromkeys(_CORE, "core"), **dict.fromkeys(_IO, "io"),
                                               "measure_sequences": "sequences", "load_sequences": "sequences"})
