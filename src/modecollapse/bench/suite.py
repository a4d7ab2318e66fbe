"""A benchmark suite as data: datasets x methods x seeds, each run one ``modecollapse train``.

A suite is a TOML file (or YAML, when PyYAML is installed)::

    name = "quick"
    description = "one line"
    seeds = 2                       # seeds 0..seeds-1; --seeds overrides
    [defaults]
    options = ["--eval-every", "500"]          # train options for every run
    [[datasets]]
    name = "ring"                   # label in the layout and the leaderboard
    data = "ring"                   # --data
    args = { modes = 8 }            # --data-arg key=value
    options = []                    # extra train options on this dataset
    methods = ["plain"]             # optional: only these methods on this dataset
    [[methods]]
    name = "plain"
    options = ["--preset", "vanilla"]          # exactly as typed for `modecollapse train`
    datasets = ["ring"]             # optional: only on these datasets
    cite = "..."                    # optional: where the protocol comes from
    [methods.published]             # optional anchors keyed by dataset label
    ring = { modes = 7.8, hq_fraction = 0.959, source = "..." }
    [[published]]                   # optional rows of published numbers with no run of ours
    name = "VEEGAN"
    ring = { modes = 8.0, hq_fraction = 0.529, source = "..." }

A run's options are ``defaults.options + dataset.options + method.options`` (later wins, as
on the command line), then ``--data``/``--data-arg``/``--seed`` set here. They are parsed by
``modecollapse train``'s own parser and turned into a :class:`TrainConfig` by its own
``config_from_args``, so an option means exactly what it means on the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import shlex
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ..errors import ConfigError
from ..lab.config import TrainConfig

# train options that bench decides itself; a suite may not set them
RESERVED = ("--out", "--resume", "--overwrite", "--json", "--dry-run", "--quiet", "--seed", "--data", "--data-arg")


@dataclass(frozen=True)
class Dataset:
    name: str
    data: str
    args: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    methods: tuple[str, ...] | None = None
    gpu: bool = False  # too slow without a GPU: run only when named in --datasets


@dataclass(frozen=True)
class Method:
    name: str
    options: tuple[str, ...] = ()
    datasets: tuple[str, ...] | None = None
    cite: str = ""
    published: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """Published numbers with no run of ours behind them (e.g. another paper's method)."""

    name: str
    numbers: dict[str, dict[str, Any]]  # dataset label -> {"modes": ..., "source": ...}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    seeds: int
    datasets: tuple[Dataset, ...]
    methods: tuple[Method, ...]
    defaults: tuple[str, ...] = ()
    published: tuple[Published, ...] = ()
    baseline: str | None = None  # a method the others are marked against in the leaderboard
    source: str = ""  # the file it was read from

    def pairs(self) -> list[tuple[Dataset, Method]]:
        """Every (dataset, method) combination the suite runs, dataset-major."""
        return [(d, m) for d in self.datasets for m in self.methods
                if (m.datasets is None or d.name in m.datasets) and (d.methods is None or m.name in d.methods)]

    def only(self, names: list[str]) -> Suite:
        """The suite restricted to the methods ``names`` (``--only``)."""
        known = [m.name for m in self.methods]
        for name in names:
            if name not in known:
                raise ConfigError(f"--only: suite {self.name!r} has no method {name!r}; its methods are: {', '.join(known)}.")
        return dataclasses.replace(self, methods=tuple(m for m in self.methods if m.name in names))

    def only_datasets(self, names: list[str] | None) -> Suite:
        """The suite restricted to the datasets ``names`` (``--datasets``); without names, the
        datasets not marked ``gpu = true``."""
        if names is None:
            return dataclasses.replace(self, datasets=tuple(d for d in self.datasets if not d.gpu))
        known = [d.name for d in self.datasets]
        for name in names:
            if name not in known:
                raise ConfigError(f"--datasets: suite {self.name!r} has no dataset {name!r}; its datasets are: {', '.join(known)}.")
        return dataclasses.replace(self, datasets=tuple(d for d in self.datasets if d.name in names))


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: where it lives and the config it trains."""

    dataset: str
    method: str
    seed: int
    options: tuple[str, ...]  # the full train command line bench builds for it
    config: TrainConfig | None  # None when the options are invalid: then ``error`` says why
    path: str  # relative to the bench directory: <dataset>/<method>/seed-<seed>
    error: str = ""

    def command(self) -> str:
        return "modecollapse train " + shlex.join([*self.options, "--out", self.path])


def safe_name(label: str) -> str:
    """A label as a directory name: letters, digits, ``.``, ``_``, ``-``, ``+``; anything else becomes ``_``."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "_", label).strip("._") or "_"
    return name


# -- reading suites ------------------------------------------------------------------------------
def builtin_suites() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("modecollapse.bench.suites").iterdir() if p.name.endswith(".toml"))


def load_suite(ref: str) -> Suite:
    """A built-in suite by name, or a suite file (``.toml``, ``.yaml``/``.yml``) by path."""
    path = Path(ref)
    if ref in builtin_suites() and not path.is_file():
        text = resources.files("modecollapse.bench.suites").joinpath(f"{ref}.toml").read_text()
        return parse_suite(_parse_toml(text, ref), source=f"built-in suite {ref}")
    if not path.is_file():
        raise ConfigError(f"--suite {ref!r} is neither a built-in suite ({', '.join(builtin_suites())}) nor a file.")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path} is YAML, which needs PyYAML (pip install pyyaml); or write the suite as TOML.") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML ({str(err).splitlines()[0]}).") from None
    else:
        raw = _parse_toml(text, str(path))
    return parse_suite(raw, source=str(path))


def _parse_toml(text: str, where: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where} is not valid TOML ({err}).") from None


def _check_keys(obj: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where} must be a table of keys, got {type(obj).__name__}.")
    unknown = set(obj) - allowed
    if unknown:
        raise ConfigError(f"{where} has unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(allowed))}.")
    return obj


def _options(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ConfigError(f"{where} must be a list of command-line words, e.g. [\"--steps\", \"2000\"].")
    words = tuple(str(v) for v in value)
    for word in words:
        flag = word.split("=", 1)[0]
        if flag in RESERVED:
            raise ConfigError(f"{where} sets {flag}, which bench sets itself for every run; remove it from the suite.")
    return words


def _labels(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of labels.")
    return tuple(value)


def parse_suite(raw: Any, source: str = "") -> Suite:
    """Validates a suite's parsed TOML/YAML and returns it as a :class:`Suite`."""
    top = _check_keys(raw, {"name", "description", "seeds", "defaults", "datasets", "methods", "published", "baseline"}, source or "suite")
    where = source or "suite"
    name = top.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where} needs a name = \"...\".")
    seeds = top.get("seeds", 1)
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"{where}: seeds must be a positive integer, got {seeds!r}.")
    defaults = _check_keys(top.get("defaults", {}), {"options"}, f"{where} [defaults]")
    datasets = []
    for i, d in enumerate(top.get("datasets") or []):
        # cite, per_run and deviations document a protocol; bench reads no more from them
        d = _check_keys(d, {"name", "data", "args", "options", "methods", "gpu", "cite", "per_run", "deviations"},
                        f"{where} datasets[{i}]")
        if not isinstance(d.get("data"), str):
            raise ConfigError(f"{where} datasets[{i}] needs data = \"NAME\" (the --data benchmark).")
        label = str(d.get("name", d["data"]))
        args = d.get("args", {})
        if not isinstance(args, dict):
            raise ConfigError(f"{where} dataset {label!r}: args must be a table, e.g. {{ modes = 8 }}.")
        datasets.append(Dataset(label, d["data"], dict(args), _options(d.get("options"), f"dataset {label!r} options"),
                                _labels(d.get("methods"), f"dataset {label!r} methods"), bool(d.get("gpu", False))))
    methods = []
    for i, m in enumerate(top.get("methods") or []):
        m = _check_keys(m, {"name", "options", "datasets", "cite", "published", "per_run", "deviations"},
                        f"{where} methods[{i}]")
        if not isinstance(m.get("name"), str) or not m["name"]:
            raise ConfigError(f"{where} methods[{i}] needs name = \"...\".")
        published = m.get("published", {})
        if not isinstance(published, dict) or not all(isinstance(v, dict) for v in published.values()):
            raise ConfigError(f"{where} method {m['name']!r}: published must map dataset labels to tables of numbers.")
        methods.append(Method(m["name"], _options(m.get("options"), f"method {m['name']!r} options"),
                              _labels(m.get("datasets"), f"method {m['name']!r} datasets"), str(m.get("cite", "")),
                              {k: dict(v) for k, v in published.items()}))
    refs = []
    for i, p in enumerate(top.get("published") or []):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise ConfigError(f"{where} published[{i}] needs name = \"...\" and tables of numbers keyed by dataset label.")
        refs.append(Published(p["name"], {k: dict(v) for k, v in p.items() if k != "name" and isinstance(v, dict)}))
    if not datasets or not methods:
        raise ConfigError(f"{where} needs at least one [[datasets]] and one [[methods]] entry.")
    for kind, labels in (("dataset", [d.name for d in datasets]), ("method", [m.name for m in methods])):
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ConfigError(f"{where}: {kind} label {sorted(dup)[0]!r} is used twice; give each a distinct name.")
        safe = [safe_name(x) for x in labels]
        clash = {x for x in safe if safe.count(x) > 1}
        if clash:
            raise ConfigError(f"{where}: two {kind} labels become the same directory name {sorted(clash)[0]!r}; rename one.")
    dnames, mnames = {d.name for d in datasets}, {m.name for m in methods}
    for m in methods:
        for label in (m.datasets or ()) + tuple(m.published):
            if label not in dnames:
                raise ConfigError(f"{where} method {m.name!r} names dataset {label!r}, which the suite does not have.")
    for d in datasets:
        for label in d.methods or ():
            if label not in mnames:
                raise ConfigError(f"{where} dataset {d.name!r} names method {label!r}, which the suite does not have.")
    baseline = top.get("baseline")
    if baseline is not None and baseline not in mnames:
        raise ConfigError(f"{where}: baseline {baseline!r} is not one of its methods.")
    return Suite(name, str(top.get("description", "")), seeds, tuple(datasets), tuple(methods),
                 _options(defaults.get("options"), "[defaults] options"), tuple(refs), baseline, source)


# -- from options to configs ---------------------------------------------------------------------
class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(message)


def _train_parser() -> argparse.ArgumentParser:
    from ..lab.options import add_train_options  # torch and the techniques: not needed to read a suite (bench --help)

    root = _RaisingParser(prog="modecollapse")
    sub = root.add_subparsers(dest="command", parser_class=_RaisingParser)
    add_train_options(sub.add_parser("train"))
    return root


def train_config(options: list[str] | tuple[str, ...], parser: argparse.ArgumentParser | None = None) -> TrainConfig:
    """The :class:`TrainConfig` that ``modecollapse train OPTIONS`` would train."""
    from ..lab.options import config_from_args  # as in _train_parser

    args = (parser or _train_parser()).parse_args(["train", *options])
    return config_from_args(args)


def _data_words(d: Dataset) -> list[str]:
    words = ["--data", d.data]
    for key, value in d.args.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        words += ["--data-arg", f"{key}={text}"]
    return words


def expand(suite: Suite, seeds: int | None = None) -> list[RunSpec]:
    """Every run of the suite with its options and config, dataset-major, then method, then seed.

    A run whose options ``modecollapse train`` would refuse gets ``config=None`` and the
    refusal in ``error``: the sweep records it as failed and runs the others."""
    parser = _train_parser()
    runs = []
    for d, m in suite.pairs():
        base = [*suite.defaults, *d.options, *m.options, *_data_words(d)]
        for seed in range(suite.seeds if seeds is None else seeds):
            options = (*base, "--seed", str(seed))
            path = f"{safe_name(d.name)}/{safe_name(m.name)}/seed-{seed}"
            try:
                runs.append(RunSpec(d.name, m.name, seed, options, train_config(options, parser), path))
            except ConfigError as err:
                runs.append(RunSpec(d.name, m.name, seed, options, None, path, error=f"invalid train options: {err}"))
    return runs


def published_rows(suite: Suite) -> list[dict[str, Any]]:
    """The suite's published anchors as leaderboard rows (``bench_leaderboard.leaderboard``)."""
    rows = []
    for m in suite.methods:
        for label, numbers in m.published.items():
            rows.append({"dataset": label, "method": m.name, "source": str(numbers.get("source", m.cite)),
                         "numbers": {k: v for k, v in numbers.items() if k != "source"}})
    for p in suite.published:
        for label, numbers in p.numbers.items():
            rows.append({"dataset": label, "method": p.name, "source": str(numbers.get("source", "")),
                         "numbers": {k: v for k, v in numbers.items() if k != "source"}})
    return rows
