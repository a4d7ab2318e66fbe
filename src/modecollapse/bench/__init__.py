"""The bench: a suite's runs (datasets x methods x seeds, each one ``modecollapse train``) on a
process pool or a Ray cluster, their leaderboard and one HTML report (``modecollapse bench``,
``modecollapse report``).

:mod:`.suite` (a suite as data; the built-in TOML suites in ``suites/``), :mod:`.sweep`
(planning, running and resuming the runs), :mod:`.leaderboard` (mean and standard error
over seeds), :mod:`.aggregate` (the statistics and markdown tables) and :mod:`.report`.
"""
from ..registry import lazy_exports

_EXPORTS = {"BenchOptions": "sweep", "run_suite": "sweep", "resolved_config": "sweep", "run_state": "sweep",
            "load_suite": "suite", "parse_suite": "suite", "builtin_suites": "suite", "expand": "suite",
            "Suite": "suite", "RunSpec": "suite", "leaderboard": "leaderboard", "RunResult": "leaderboard",
            "write_report": "report"}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
