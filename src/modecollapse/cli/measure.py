"""``modecollapse measure``: collapse-aware metrics of any generator's samples against real data."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from ..data import DATASETS
from ..data.base import Benchmark, GaussianMixture
from ..errors import ConfigError
from ..fileio import json_text
from ..measure.core import METRICS, Inputs, MeasureParams, default_metrics, measure
from ..measure.sequences import add_sequence_options, is_sequence_input, run_sequences, sequence_epilog
from ..registry import describe_params, params_from_strings, parse_pairs
from .common import add_field_options, check_threads, field_values, plain_fields, summary
from .measure_groups import add_group_options, add_grouped, check_group_args, human_groups, run_completions


def metric_param_groups() -> dict[str, type]:
    """prefix -> parameter dataclass, one per group of metrics sharing parameters (pr: precision
    and recall ...), in registration order; their fields are the options --<prefix>-<field>."""
    groups: dict[str, type] = {}
    for _, spec in METRICS.items():
        if spec.Params is not None:
            groups.setdefault(spec.prefix, spec.Params)
    return groups


def _metrics_epilog() -> str:
    width = max(len(n) for n in METRICS)
    lines = ["metrics (JSON key: direction - meaning):"]
    for name, spec in METRICS.items():
        arrow = "higher is better" if spec.higher_is_better else "lower is better "
        lines.append(f"  {name:<{width}}  {arrow}  {spec.summary}")
    lines += [
        "",
        "Without --metrics: " + ", ".join(default_metrics(Inputs(fake=torch.zeros(1, 1), real=torch.zeros(1, 1))))
        + " (plus isc with an extractor that has logits, mutual_info with --latent and modes with a mode source).",
        "FILE: .npy, .npz (FILE.npz:KEY to pick an array), a torch.save tensor file (read with weights_only=True),",
        "or a folder of images (pixels in [0, 1] as features unless --extractor maps them).",
        "Pretrained extractors (inception-v3, dinov2-vits14/-vitb14/-vitl14/-vitg14) take image folders and arrays",
        "of uint8 images (n, H, W, 3) as in ADM reference batches (arr_0) or (n, 3, H, W), or floats in [0, 1]",
        "(quantised to 8 bits first, as a PNG would be). Their weight file: --extractor-weights FILE, else its usual",
        "name in $MODECOLLAPSE_WEIGHTS, else in torch hub's checkpoints ($TORCH_HOME/hub/checkpoints, default",
        "~/.cache/torch/hub/checkpoints). The real set's features are cached in --feature-cache (default",
        "$MODECOLLAPSE_CACHE/features or ~/.cache/modecollapse/features), keyed by the real data and the network.",
        "Exit codes: 0 done, 2 bad input (one line on stderr; no output file is written).",
    ]
    return "\n".join(lines)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "measure",
        help=summary("measure"),
        description="Compare a generator's samples (or their features) with real data: fidelity "
        "(precision, density), diversity (recall, coverage, Vendi, birthday support), distances (FID, KID, "
        "NDB), copying (memorisation), latent use (mutual_info) and mode counts. Dropped modes show as "
        "falling recall, coverage, vendi and birthday, and rising ndb.",
        epilog=_metrics_epilog() + "\n\n" + sequence_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("inputs")
    g.add_argument("--real", metavar="FILE", help="real samples or features (the reference; training set for memorisation)")
    g.add_argument("--fake", metavar="FILE", required=True, help="generated samples or features")
    g.add_argument("--latent", metavar="FILE", help="latent codes behind --fake, row for row (for mutual_info)")
    g.add_argument("--real-stats", type=Path, metavar="FILE",
                   help="cache of the real side (k-NN radii, mean and covariance): read when it exists, written "
                   "otherwise; with it --real may be left out for fid")
    from ..features import EXTRACTORS

    g.add_argument("--extractor", metavar="SPEC",
                   help=f"feature extractor applied to both sets: a registered name ({', '.join(EXTRACTORS.names())}; "
                   "default identity), a TorchScript file, or module:function")
    g.add_argument("--extractor-weights", metavar="FILE",
                   help="weight file of a pretrained --extractor (default: its usual name in $MODECOLLAPSE_WEIGHTS, "
                   "then torch hub's checkpoint folder)")
    g.add_argument("--feature-cache", type=Path, metavar="DIR",
                   help="folder of cached real-set features of the pretrained extractors (default "
                   "$MODECOLLAPSE_CACHE/features, i.e. ~/.cache/modecollapse/features)")
    g.add_argument("--no-feature-cache", action="store_true", help="neither read nor write cached real-set features")
    g.add_argument("--image-size", type=int, metavar="N", help="resize images of a folder to N x N")
    g.add_argument("--image-mode", default="RGB", choices=["RGB", "L"], help="image channels read from a folder (default RGB)")
    g.add_argument("--batch-size", type=int, metavar="N",
                   help="batch size of the feature extractor (default 256; 50 for the pretrained networks)")
    g.add_argument("--workers", type=int, metavar="N",
                   help="processes that decode an image folder while the feature network runs; on CPU each also "
                   "runs the network, on one thread (default: one per --threads; 0: all in this process)")
    from ..features.inference import PRECISIONS

    g.add_argument("--extractor-precision", default="float32", choices=PRECISIONS,
                   help="arithmetic of a pretrained --extractor (default float32; tf32 on a GPU and bf16 are faster "
                   "opt-ins that move FID, see docs/results/performance.md)")

    m = p.add_argument_group("metrics and their parameters")
    m.add_argument("--metrics", metavar="A,B,...", help=f"comma-separated, from: {', '.join(METRICS.names())}")
    m.add_argument("--nearest-k", type=int, metavar="K",
                   help="k of all four k-NN metrics at once (as in the prdc package); --pr-k / --dc-k override it")
    for prefix, cls in metric_param_groups().items():
        add_field_options(m, cls, prefix=prefix)
    add_field_options(m, MeasureParams)

    md = p.add_argument_group("mode statistics (one source of modes)")
    md.add_argument("--modes-from", metavar="NAME", help=f"benchmark whose modes to count: {', '.join(DATASETS.names())}")
    data_help = "; ".join(f"{n}: {describe_params(c)}" for n, c in DATASETS.items())
    md.add_argument("--modes-arg", action="append", default=[], metavar="KEY=VALUE",
                    help=f"benchmark parameter for --modes-from, repeatable. Parameters - {data_help}")
    md.add_argument("--modes-centres", metavar="FILE", help="mode centres (k, d) as a FILE; with --modes-std")
    md.add_argument("--modes-std", type=float, metavar="S", help="per-axis standard deviation of every mode of --modes-centres")
    md.add_argument("--mode-classifier", metavar="SPEC", help="TorchScript file or module:function mapping samples to class scores or labels")
    md.add_argument("--num-modes", type=int, metavar="K", help="classes of a --mode-classifier that returns labels")
    md.add_argument("--mode-confidence", type=float, default=0.0, metavar="P",
                    help="a classified sample is high quality when its class probability >= P (default 0)")

    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    o.add_argument("--out", type=Path, metavar="FILE", help="also write the JSON result to FILE (atomically)")
    o.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    o.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: torch's choice; 1 is far faster for small inputs "
                        "on a machine other jobs share). Results do not depend on it")
    add_sequence_options(p)
    add_group_options(p)
    p.set_defaults(handler=run)


def params_from_args(args: argparse.Namespace) -> MeasureParams:
    metric: dict[str, Any] = {}
    for prefix, cls in metric_param_groups().items():
        given = {f.name: getattr(args, f"{prefix}_{f.name}") for f in plain_fields(cls)
                 if getattr(args, f"{prefix}_{f.name}") is not None}
        if prefix in ("pr", "dc") and args.nearest_k is not None:
            given.setdefault("k", args.nearest_k)
        metric[prefix] = cls(**given)
    params = MeasureParams(**field_values(args, [f.name for f in plain_fields(MeasureParams)]), metric=metric)
    params.validate()
    return params


def metric_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--metrics is empty; choose from: {', '.join(METRICS.names())}.")
    for n in names:
        METRICS.get(n)  # unknown -> one sentence naming the choices
    return names


def _modes(args: argparse.Namespace, dim: int) -> tuple[Benchmark | None, str]:
    from ..features import load_callable
    from ..measure.io import load_raw
    from ..metrics.classifier_modes import ClassifierModes

    given = [x for x in (args.modes_from, args.modes_centres, args.mode_classifier) if x]
    if len(given) > 1:
        raise ConfigError("give one source of modes: --modes-from, --modes-centres or --mode-classifier.")
    if args.modes_arg and not args.modes_from:
        raise ConfigError("--modes-arg sets parameters of --modes-from NAME; give --modes-from too.")
    if args.modes_from:
        pairs: dict[str, str] = {}
        for item in args.modes_arg:
            pairs.update(parse_pairs(item, "--modes-arg"))
        cls = DATASETS.get(args.modes_from)
        bench = params_from_strings(cls, pairs, f"dataset {args.modes_from!r}").build()
        return bench, f"{args.modes_from} {pairs}" if pairs else args.modes_from
    if args.modes_centres:
        if args.modes_std is None or not args.modes_std > 0:
            raise ConfigError("--modes-centres needs --modes-std S > 0, the per-axis std of every mode.")
        centres = load_raw(args.modes_centres).double()
        if centres.ndim != 2 or len(centres) == 0 or not torch.isfinite(centres).all():
            raise ConfigError(f"{args.modes_centres} must hold finite mode centres of shape (k, d), got {tuple(centres.shape)}.")
        bench = GaussianMixture(centres, torch.full((len(centres),), float(args.modes_std)))
        return bench, f"centres {args.modes_centres} std {args.modes_std}"
    if args.mode_classifier:
        fn = load_callable(args.mode_classifier, what="mode classifier")
        return (ClassifierModes(fn, dim=dim, num_modes=args.num_modes, confidence=args.mode_confidence),
                f"classifier {args.mode_classifier}")
    return None, ""


def _feature_cache(args: argparse.Namespace) -> Path | None:
    if args.no_feature_cache:
        return None
    if args.feature_cache is not None:
        return args.feature_cache
    from ..models.classifier import resolve_cache_dir

    return resolve_cache_dir(None) / "features"


def _network_inputs(args: argparse.Namespace, params: MeasureParams, extractor: Any
                    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(fake features, real features, fake logits) through a pretrained network; the real set's
    features come from the cache when it has them."""
    from ..features import logits_output
    from ..measure.io import load_network_outputs

    kw = dict(image_size=args.image_size, image_mode=args.image_mode, batch_size=args.batch_size or 50,
              device=params.device, progress=not args.quiet, workers=args.workers)
    lg = logits_output(extractor)
    fake_out = load_network_outputs(args.fake, extractor, outputs=("features",) + ((lg,) if lg else ()),
                                    name="fake", **kw)  # type: ignore[arg-type]
    real = None
    if args.real:
        real = load_network_outputs(args.real, extractor, outputs=("features",), name="real",
                                    cache_dir=_feature_cache(args), **kw)["features"]  # type: ignore[arg-type]
    return fake_out["features"], real, fake_out.get(lg) if lg else None


def _load_inputs(args: argparse.Namespace, params: MeasureParams) -> Inputs:
    from ..features import resolve_extractor
    from ..measure.io import load_features
    from ..metrics.reference import ReferenceStats, fingerprint

    if args.extractor_weights is not None and args.extractor in (None, "identity"):
        raise ConfigError("--extractor-weights is the weight file of a pretrained --extractor; give --extractor "
                          "inception-v3 or dinov2-vitl14 (...) too.")
    if args.extractor not in (None, "identity"):
        from ..metrics._checks import resolve_device

        resolve_device(params.device, torch.zeros(0))  # a GPU asked for where there is none: one sentence
    extractor = None if args.extractor in (None, "identity") else resolve_extractor(
        args.extractor, weights=args.extractor_weights, device=params.device, precision=args.extractor_precision)
    logits = None
    if extractor is not None and hasattr(extractor, "outputs_of"):
        fake, real, logits = _network_inputs(args, params, extractor)
    else:
        kw = dict(extractor=extractor, image_size=args.image_size, image_mode=args.image_mode,
                  batch_size=args.batch_size or 256, device=params.device, workers=args.workers)
        fake = load_features(args.fake, name="fake", **kw)  # type: ignore[arg-type]
        real = load_features(args.real, name="real", **kw) if args.real else None  # type: ignore[arg-type]
    latent = None
    if args.latent:
        latent = load_features(args.latent, name="latent")
    reference = None
    if args.real_stats is not None:
        if args.real_stats.exists():
            reference = ReferenceStats.load(args.real_stats)
            if real is not None:
                reference.check_matches(real, args.real_stats)
        elif real is None:
            raise ConfigError(f"{args.real_stats} does not exist yet; pass --real FILE once to compute and save it.")
        else:
            reference = ReferenceStats(n=len(real), dim=real.shape[1], fingerprint=fingerprint(real), changed=True)
    modes, source = _modes(args, fake.shape[1])
    return Inputs(fake=fake, real=real, latent=latent, logits=logits, modes=modes, modes_source=source,
                  reference=reference)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if v is None:
        return "n/a"
    return str(v)


def _human(result: dict[str, Any]) -> str:
    skip = {"higher_is_better", "params", "n_real", "n_fake", "dim", "device", "seconds", "mode_counts", "groups"}
    lines = [f"{result['n_fake']} fake vs {result['n_real'] if result['n_real'] is not None else 'stats of'} real, "
             f"{result['dim']} features"]
    hib = result["higher_is_better"]
    for key, value in result.items():
        if key in skip:
            continue
        direction = ""
        if key in hib:
            direction = "(higher is better)" if hib[key] else "(lower is better)"
        params = result["params"].get(key)
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in (params or {}).items())
        lines.append(f"  {key:<28} {_fmt(value):>12}  {direction}{'  ' + shown if shown else ''}".rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    from ..measure.completions import is_completions_input

    if is_completions_input(args.fake):
        return run_completions(args, params)
    check_group_args(args)
    if is_sequence_input(args.fake, args.tokens):
        if args.groups is not None:
            raise ConfigError("--groups applies to arrays and image folders; for text, write the completions as JSON "
                              "lines with a \"prompt\" each (--fake FILE.jsonl).")
        return run_sequences(args, params)
    names = metric_names(args.metrics)
    if args.out is not None:
        from ..fileio import check_out_file

        check_out_file(args.out)  # a folder, under a file or not writable: one sentence before any work
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers must be >= 0 (0 decodes images in this process), got {args.workers}.")
    check_threads(args.threads)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    inputs = _load_inputs(args, params)
    show = not args.quiet and sys.stderr.isatty()
    progress = (lambda name: sys.stderr.write(f"measuring {name} ...\n")) if show else None
    result = measure(inputs, params, names, progress=progress)
    if args.groups is not None:
        add_grouped(args, params, inputs, names, result)
    text = json_text(result)
    if args.real_stats is not None and inputs.reference is not None and (
        inputs.reference.changed or not args.real_stats.exists()
    ):
        inputs.reference.save(args.real_stats)
    if args.out is not None:
        from ..fileio import atomic_write

        atomic_write(args.out, lambda tmp: Path(tmp).write_text(text + "\n"))
    print(text if args.json else "\n".join(x for x in (_human(result), human_groups(result)) if x))
    return 0
