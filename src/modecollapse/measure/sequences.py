"""``modecollapse measure`` on token sequences: generated text or token ids.

A sequence FILE is a text file (``.txt``; UTF-8, one sample per line, whitespace-separated
tokens, blank lines skipped) or, with ``--tokens``, an integer array (``.npy`` / ``.npz`` /
tensor file) of token ids (n, L) in which negative ids are padding. The metrics are those of
:mod:`modecollapse.metrics.sequence`: without a real set distinct-n (``distinct_1`` ...),
n-gram entropy (``entropy_1`` ...) and ``self_bleu``; with ``--real`` also ``bleu`` (the fake
lines against the real set) and ``ngram_coverage_1`` .... When embeddings of the samples are
given (``--fake-embeddings``, ``--real-embeddings``: arrays (n, d), row i embedding line i),
the project's embedding metrics are measured on them as well (Vendi without a real set; Vendi,
precision, recall, density and coverage with one).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..metrics.sequence import (
    BLEU_DEFINITIONS,
    Tokens,
    bleu_against,
    distinct_n,
    ngram_counts,
    ngram_coverage,
    ngram_entropy,
    self_bleu,
)
from ..registry import Registry


@dataclass(frozen=True)
class SequenceInputs:
    """One measurement of token sequences: the sets and the parameters every metric reads."""

    fake: list[Tokens]
    real: list[Tokens] | None
    max_n: int
    bleu_definition: str


@dataclass(frozen=True)
class SequenceMetricSpec:
    """A sequence metric as ``modecollapse measure`` knows it: ``compute`` returns its JSON keys
    (``distinct`` gives ``distinct_1`` ... ``distinct_<max_n>``)."""

    name: str
    higher_is_better: bool
    summary: str
    needs: tuple[str, ...]  # of "real"
    compute: Callable[[SequenceInputs], dict[str, float]]


#: sequence metric name -> spec; ``--metrics`` draws its sequence choices from here
SEQUENCE_METRICS: Registry[SequenceMetricSpec] = Registry("sequence metric")


def _orders(seqs: list[Tokens], max_n: int) -> list[int]:
    """n = 1..max_n for which the set has at least one n-gram."""
    return [n for n in range(1, max_n + 1) if sum(ngram_counts(seqs, n).values()) > 0]


def _distinct(s: SequenceInputs) -> dict[str, float]:
    """distinct-n (Li et al. 2016)."""
    return {f"distinct_{n}": distinct_n(s.fake, n) for n in _orders(s.fake, s.max_n)}


def _entropy(s: SequenceInputs) -> dict[str, float]:
    """n-gram entropy (Zhang et al. 2018)."""
    return {f"entropy_{n}": ngram_entropy(s.fake, n) for n in _orders(s.fake, s.max_n)}


def _self_bleu(s: SequenceInputs) -> dict[str, float]:
    """Self-BLEU (Zhu et al. 2018, Texygen)."""
    if len(s.fake) < 2:
        raise ConfigError("self_bleu needs at least 2 fake lines.")
    return {"self_bleu": self_bleu(s.fake, definition=s.bleu_definition)}  # type: ignore[arg-type]


def _bleu(s: SequenceInputs) -> dict[str, float]:
    """BLEU against the real set (Papineni et al. 2002)."""
    assert s.real is not None
    return {"bleu": bleu_against(real=s.real, fake=s.fake, definition=s.bleu_definition)}  # type: ignore[arg-type]


def _ngram_coverage(s: SequenceInputs) -> dict[str, float]:
    """Share of the real set's distinct n-grams the fake set uses (this project)."""
    assert s.real is not None
    return {f"ngram_coverage_{n}": ngram_coverage(real=s.real, fake=s.fake, n=n) for n in _orders(s.real, s.max_n)}


for _spec in [
    SequenceMetricSpec("distinct", True, "distinct_n: unique / total n-grams over all lines, n = 1..--max-n "
                       "(Li et al. 2016)", (), _distinct),
    SequenceMetricSpec("entropy", True, "entropy_n: Shannon entropy (nats) of the n-gram distribution "
                       "(Zhang et al. 2018)", (), _entropy),
    SequenceMetricSpec("self_bleu", False, "mean BLEU-4 of each line against all the others (Zhu et al. 2018; 1 = "
                       "identical lines), as --bleu-definition says (default Texygen's)", (), _self_bleu),
    SequenceMetricSpec("bleu", True, "mean BLEU-4 of each fake line with the real lines as references (fidelity), as "
                       "--bleu-definition says", ("real",), _bleu),
    SequenceMetricSpec("ngram_coverage", True, "ngram_coverage_n: share of the real set's distinct n-grams the fake "
                       "set uses", ("real",), _ngram_coverage),
]:
    SEQUENCE_METRICS.add(_spec.name, _spec)

DEFAULT_EMBEDDING_METRICS = ("vendi",)
DEFAULT_EMBEDDING_METRICS_WITH_REAL = ("precision", "recall", "density", "coverage", "vendi")


def is_sequence_input(spec: str | None, tokens: bool) -> bool:
    """Whether ``spec`` is read as sequences: a ``.txt`` file, or any array with ``--tokens``."""
    return spec is not None and (tokens or Path(spec).suffix.lower() == ".txt")


def load_sequences(spec: str, *, tokens: bool, name: str) -> list[tuple]:
    """The sequences in ``spec`` (see the module docstring); at least one non-empty sample."""
    path = Path(spec)
    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise ConfigError(f"no such file: {path}.")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8, one sample per line.") from None
        seqs = [tuple(line.split()) for line in text.splitlines() if line.strip()]
    else:
        from .io import load_raw

        x = load_raw(spec)
        if x.is_floating_point() or x.dtype == torch.bool:
            raise ConfigError(f"--tokens reads integer token ids, but {path} holds {x.dtype} values.")
        if x.ndim != 2:
            raise ConfigError(f"{path} must hold token ids of shape (n, length), got {tuple(x.shape)}.")
        seqs = [tuple(int(t) for t in row if t >= 0) for row in x.tolist()]
        seqs = [s for s in seqs if s]
    if not seqs:
        raise ConfigError(f"{name} file {spec} holds no non-empty sample.")
    return seqs


def sequence_metric_names(text: str | None, *, has_real: bool, has_embeddings: bool) -> tuple[list[str], list[str]]:
    """(sequence metrics, embedding metrics) asked for by ``--metrics`` or by default."""
    from .core import METRICS

    if text is None:
        seq = [n for n, spec in SEQUENCE_METRICS.items() if has_real or "real" not in spec.needs]
        emb = list(DEFAULT_EMBEDDING_METRICS_WITH_REAL if has_real else DEFAULT_EMBEDDING_METRICS) \
            if has_embeddings else []
        return seq, emb
    seq, emb = [], []
    for n in (x.strip() for x in text.split(",")):
        if not n:
            continue
        if n in SEQUENCE_METRICS:
            if "real" in SEQUENCE_METRICS.get(n).needs and not has_real:
                raise ConfigError(f"metric {n!r} compares with real samples; pass --real FILE.")
            seq.append(n)
        elif n in METRICS:
            if not has_embeddings:
                raise ConfigError(f"metric {n!r} is computed on embeddings of the samples; pass --fake-embeddings "
                                  "FILE (and --real-embeddings FILE for metrics that compare).")
            emb.append(n)
        else:
            raise ConfigError(f"unknown sequence metric {n!r}; choose from: {', '.join(SEQUENCE_METRICS.names())} "
                              "(or an embedding metric with --fake-embeddings).")
    if not seq and not emb:
        raise ConfigError("--metrics is empty; choose from: " + ", ".join(SEQUENCE_METRICS.names()) + ".")
    return seq, emb


def measure_sequences(
    *, fake: list[Tokens], real: list[Tokens] | None = None, metrics: list[str], max_n: int = 4,
    bleu_definition: str = "texygen", progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Runs the sequence ``metrics`` and returns values, directions, parameters and timings.
    ``bleu_definition``: one of :data:`~modecollapse.metrics.sequence.BLEU_DEFINITIONS`."""
    if max_n < 1:
        raise ConfigError(f"--max-n must be >= 1, got {max_n}.")
    if bleu_definition not in BLEU_DEFINITIONS:
        raise ConfigError(f"unknown --bleu-definition {bleu_definition!r}; choose one of: "
                          f"{', '.join(BLEU_DEFINITIONS)}.")
    specs = [SEQUENCE_METRICS.get(name) for name in metrics]  # unknown names fail before any work
    for spec in specs:
        if "real" in spec.needs and real is None:
            raise ConfigError(f"metric {spec.name!r} compares with real samples; pass --real FILE.")
    inputs = SequenceInputs(fake=fake, real=real, max_n=max_n, bleu_definition=bleu_definition)
    out: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for spec in specs:
        if progress is not None:
            progress(spec.name)
        t0 = time.perf_counter()
        out.update(spec.compute(inputs))
        seconds[spec.name] = round(time.perf_counter() - t0, 3)
    out["higher_is_better"] = {spec.name: spec.higher_is_better for spec in specs}
    out["params"] = {"max_n": max_n, "bleu_max_n": 4, "bleu_definition": bleu_definition,
                     "bleu_smoothing": "Chen & Cherry 2014 method 1 (epsilon 0.1)",
                     "tokens": "whitespace-separated words or integer ids"}
    out["n_real"] = None if real is None else len(real)
    out["n_fake"] = len(fake)
    out["seconds"] = seconds
    return out


def human(result: dict[str, Any]) -> str:
    skip = {"higher_is_better", "params", "n_real", "n_fake", "dim", "device", "seconds", "mode_counts"}
    head = f"{result['n_fake']} fake lines" + (f" vs {result['n_real']} real" if result["n_real"] is not None else "")
    lines = [head]
    for key, value in result.items():
        if key in skip:
            continue
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        lines.append(f"  {key:<28} {shown:>12}")
    return "\n".join(lines)


# -- the command line (called from cli_measure) ------------------------------------------------
def add_sequence_options(parser) -> None:
    """The options ``modecollapse measure`` needs for sequence input."""
    g = parser.add_argument_group("token sequences (a .txt FILE, one sample per line, or --tokens)")
    g.add_argument("--tokens", action="store_true",
                   help="read --fake/--real arrays (n, L) as integer token ids (negative ids are padding) "
                        "rather than features")
    g.add_argument("--max-n", type=int, default=4, metavar="N",
                   help="largest n of distinct_n, entropy_n and ngram_coverage_n (default 4)")
    g.add_argument("--bleu-definition", choices=tuple(BLEU_DEFINITIONS), default="texygen",
                   help="self_bleu and bleu: " + "; ".join(f"{k}: {v}" for k, v in BLEU_DEFINITIONS.items())
                        + " (default texygen, where a line sharing no word with the others scores 0)")
    g.add_argument("--fake-embeddings", metavar="FILE",
                   help="embeddings (n, d) of the fake lines, row for row: adds vendi (and with --real-embeddings "
                        "precision, recall, density, coverage)")
    g.add_argument("--real-embeddings", metavar="FILE", help="embeddings (n, d) of the real lines, row for row")


def sequence_epilog() -> str:
    lines = ["sequence metrics (--fake FILE.txt or --tokens; no --real needed except where marked):"]
    for name, spec in SEQUENCE_METRICS.items():
        arrow = "higher is better" if spec.higher_is_better else "lower is better "
        lines.append(f"  {name:<14}  {arrow}  {spec.summary}{' [needs --real]' if 'real' in spec.needs else ''}")
    return "\n".join(lines)


def run_sequences(args, params) -> int:
    """``modecollapse measure`` when ``--fake`` holds sequences; ``params``: the MeasureParams
    the embedding metrics use."""
    import sys

    from .core import METRICS, Inputs, measure
    from .io import load_features

    feature_only = {"--latent": args.latent, "--real-stats": args.real_stats, "--extractor": args.extractor,
                    "--modes-from": args.modes_from, "--modes-centres": args.modes_centres,
                    "--mode-classifier": args.mode_classifier}
    given = [flag for flag, value in feature_only.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} applies to feature arrays, not to token sequences; leave it out "
                          "(embeddings of the lines go in --fake-embeddings).")
    if args.real is not None and not is_sequence_input(args.real, args.tokens):
        raise ConfigError("--fake holds token sequences, so --real must too (a .txt file, or an array with --tokens).")
    if args.real_embeddings and not args.fake_embeddings:
        raise ConfigError("--real-embeddings needs --fake-embeddings as well.")
    if args.out is not None and (args.out.is_dir() or not args.out.parent.is_dir()):
        raise ConfigError(f"cannot write --out {args.out}: give a file path inside an existing folder.")
    fake = load_sequences(args.fake, tokens=args.tokens, name="fake")
    real = load_sequences(args.real, tokens=args.tokens, name="real") if args.real else None
    seq_names, emb_names = sequence_metric_names(args.metrics, has_real=real is not None,
                                                 has_embeddings=args.fake_embeddings is not None)
    emb_inputs = None
    if args.fake_embeddings:
        ef = load_features(args.fake_embeddings, name="fake embeddings")
        er = load_features(args.real_embeddings, name="real embeddings") if args.real_embeddings else None
        for emb, seqs, side in ((ef, fake, "fake"), (er, real, "real")):
            if emb is not None and seqs is not None and len(emb) != len(seqs):
                raise ConfigError(f"--{side}-embeddings has {len(emb)} rows but the {side} file has {len(seqs)} "
                                  "non-empty lines; give one embedding per line.")
        emb_inputs = Inputs(fake=ef, real=er)
        if er is None and args.metrics is None:
            emb_names = [n for n in emb_names if "real" not in METRICS.get(n).needs]
    show = not args.quiet and sys.stderr.isatty()
    progress = (lambda name: sys.stderr.write(f"measuring {name} ...\n")) if show else None
    result = measure_sequences(fake=fake, real=real, metrics=seq_names, max_n=args.max_n,
                               bleu_definition=getattr(args, "bleu_definition", "texygen"),
                               progress=progress)
    if emb_inputs is not None and emb_names:
        e = measure(emb_inputs, params, emb_names, progress=progress)
        meta = {k: result.pop(k) for k in ("higher_is_better", "params", "n_real", "n_fake", "seconds")}
        values = {k: v for k, v in e.items() if k not in ("higher_is_better", "params", "n_real", "n_fake", "dim",
                                                             "device", "seconds")}
        result.update(values)
        result["higher_is_better"] = {**meta["higher_is_better"], **e["higher_is_better"]}
        result["params"] = {**meta["params"], "embeddings": e["params"], "embedding_dim": e["dim"]}
        result.update(n_real=meta["n_real"], n_fake=meta["n_fake"], seconds={**meta["seconds"], **e["seconds"]})
    from ..fileio import json_text

    text = json_text(result)
    if args.out is not None:
        from ..fileio import atomic_write

        atomic_write(args.out, lambda tmp: Path(tmp).write_text(text + "\n"))
    print(text if args.json else human(result))
    return 0
