"""``modecollapse measure`` on grouped samples: completions JSONL files, and ``--groups`` beside
arrays and image folders (per class, per prompt, per condition)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fileio import json_text


def add_group_options(parser: argparse.ArgumentParser) -> None:
    """The options of grouped measurements."""
    g = parser.add_argument_group(
        "grouped samples and language-model completions (--fake FILE.jsonl, or --groups)",
        "A .jsonl --fake holds one JSON object a line: \"prompt\", \"completion\", optional \"correct\" (true/false) "
        "and \"reward\" (a number); every diversity metric is then computed per prompt and summarised over prompts. "
        "--real FILE.jsonl: the reference policy's completions (e.g. the base model's) to the same prompts.")
    g.add_argument("--groups", metavar="FILE",
                   help="one group id per row of --fake (a class, a prompt, a condition): a .txt file (one id a line), "
                        "an array file, or 'subfolders' for an image folder (each image's folder is its group); "
                        "adds per-group values and their mean, median and worst decile")
    g.add_argument("--real-groups", metavar="FILE",
                   help="one group id per row of --real (same forms): per-group precision, recall, density and "
                        "coverage compare each fake group with the real samples of the same group")
    g.add_argument("--normalise", default="whitespace", metavar="NAME|MODULE:FUNCTION",
                   help="completions are compared as strings after this: whitespace (default), lower, none, or a "
                        "module:function mapping a string to a string")
    g.add_argument("--answer", metavar="NAME|MODULE:FUNCTION",
                   help="extract each completion's answer for answer_unique_ratio, answer_entropy and distinct correct "
                        "answers: last-number, boxed, first-word, first-line, or a module:function")
    g.add_argument("--units", choices=("words", "chars"), default="words",
                   help="tokens of distinct-n, self-BLEU and repetition in completions (default words)")
    g.add_argument("--pass-k", metavar="K,K,...",
                   help="the k of pass@k (default 1, 2, 4, ... up to the completions per prompt)")
    g.add_argument("--embedder", metavar="SPEC",
                   help="embed the completions for per-prompt Vendi, cosine similarity, the same-prompt neighbour "
                        "share and (with --real) embedding precision/recall/coverage: minilm (the packaged "
                        "all-MiniLM-L6-v2), sentence-transformers:PATH, hf:PATH (mean pooling) or module:function; "
                        "nothing is downloaded")
    g.add_argument("--no-per-group", action="store_true",
                   help="leave the value of every group out of --json and --out (keep the summaries)")


def _ks(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--pass-k takes comma-separated integers such as 1,4,16; got {text!r}.") from None
    if not ks or min(ks) < 1:
        raise ConfigError(f"--pass-k takes positive integers such as 1,4,16; got {text!r}.")
    return sorted(set(ks))


def _write(args: argparse.Namespace, result: dict[str, Any], human: str) -> int:
    text = json_text(result)
    if args.out is not None:
        from ..fileio import atomic_write

        atomic_write(args.out, lambda tmp: Path(tmp).write_text(text + "\n"))
    print(text if args.json else human)
    return 0


def run_completions(args: argparse.Namespace, params: Any) -> int:
    """``measure --fake FILE.jsonl``."""
    from ..measure.completions import (
        TEXT_METRICS,
        TextOptions,
        human_completions,
        is_completions_input,
        load_completions,
        measure_completions,
    )

    feature_only = {"--latent": args.latent, "--real-stats": args.real_stats, "--extractor": args.extractor,
                    "--modes-from": args.modes_from, "--modes-centres": args.modes_centres,
                    "--mode-classifier": args.mode_classifier, "--groups": args.groups,
                    "--real-groups": args.real_groups, "--fake-embeddings": args.fake_embeddings}
    given = [flag for flag, value in feature_only.items() if value is not None]
    if given:
        raise ConfigError(f"{given[0]} does not apply to a completions file (the prompt is the group; embeddings come "
                          "from --embedder); leave it out.")
    if args.real is not None and not is_completions_input(args.real):
        raise ConfigError("--fake holds completions (.jsonl), so --real must too: the reference policy's completions.")
    if args.out is not None:
        from ..fileio import check_out_file

        check_out_file(args.out)
    options = TextOptions(normalise=args.normalise, answer=args.answer, units=args.units, max_n=args.max_n,
                          bleu_definition=args.bleu_definition, ks=_ks(args.pass_k))
    options.validate()
    from ..measure.completions import ANSWER_EXTRACTORS, NORMALISERS
    from ..metrics.completions import resolve_text_fn

    resolve_text_fn(options.normalise, NORMALISERS)  # a bad name fails before the files are read
    if options.answer is not None:
        resolve_text_fn(options.answer, ANSWER_EXTRACTORS)
    names = None
    if args.metrics is not None:
        names = [n.strip() for n in args.metrics.split(",") if n.strip()]
        if not names:
            raise ConfigError(f"--metrics is empty; choose from: {', '.join(TEXT_METRICS.names())}.")
        for n in names:
            TEXT_METRICS.get(n)
    fake = load_completions(args.fake, name="--fake")
    real = load_completions(args.real, name="--real") if args.real else None
    embedder = None
    if args.embedder:
        from ..features.text import load_text_embedder

        embedder = load_text_embedder(args.embedder, device=params.device)
    show = not args.quiet
    result = measure_completions(fake, real, options=options, metrics=names, embedder=embedder,
                                 embedding_params=params, progress=show, per_group=not args.no_per_group)
    return _write(args, result, human_completions(result))


def load_group_ids(spec: str, *, samples: str, n: int, name: str) -> list[Any]:
    """One group id per row of ``samples`` from ``spec``: 'subfolders' (an image folder's
    subfolder names), a .txt/.csv file (one id a line) or an array file."""
    if spec == "subfolders":
        folder = Path(samples)
        if not folder.is_dir():
            raise ConfigError(f"{name} subfolders takes the groups from an image folder's subfolders, but {samples} "
                              "is not a folder.")
        from ..fileio import image_files

        ids: list[Any] = [str(p.parent.relative_to(folder)) for p in image_files(folder)]
    else:
        path = Path(spec)
        if path.suffix.lower() in (".txt", ".csv"):
            if not path.is_file():
                raise ConfigError(f"no such {name} file: {path}.")
            ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            x = _id_array(path, spec, name)
            if x.ndim != 1 and not (x.ndim == 2 and x.shape[1] == 1):
                raise ConfigError(f"{name} {spec} must hold one id per sample (shape (n,)), got {tuple(x.shape)}.")
            ids = x.reshape(-1).tolist()
    if len(ids) != n:
        raise ConfigError(f"{name} gives {len(ids)} group ids but {samples} has {n} samples; give one id per sample, "
                          "in the order the samples are read (image folders: sorted file paths).")
    return ids


def _id_array(path: Path, spec: str, name: str):
    """The ids of an array file: a .npy through numpy (numbers or strings, no pickled objects),
    anything else through measure's loader."""
    if path.suffix.lower() != ".npy":
        from ..measure.io import load_raw

        return load_raw(spec)
    import numpy as np

    if not path.is_file():
        raise ConfigError(f"no such {name} file: {path}.")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ConfigError(f"cannot read {name} {path} as an array ({type(err).__name__}).") from None


def add_grouped(args: argparse.Namespace, params: Any, inputs: Any, names: list[str] | None,
                result: dict[str, Any]) -> None:
    """Adds the per-group summaries of ``--groups`` to ``result`` (in place)."""
    from ..measure.grouped import grouped_json, grouped_metric_names, measure_grouped

    fake_groups = load_group_ids(args.groups, samples=args.fake, n=len(inputs.fake), name="--groups")
    real_groups = None
    if args.real_groups is not None:
        if inputs.real is None:
            raise ConfigError("--real-groups needs --real.")
        real_groups = load_group_ids(args.real_groups, samples=args.real, n=len(inputs.real), name="--real-groups")
    wanted = grouped_metric_names(names, has_real_groups=real_groups is not None)
    if not wanted:
        raise ConfigError("none of the metrics asked for can be computed within groups; ask for precision, recall, "
                          "density, coverage or vendi (those that compare need --real-groups).")
    summaries = measure_grouped(inputs, params, wanted, fake_groups=fake_groups, real_groups=real_groups,
                                progress=not args.quiet and sys.stderr.isatty())
    result["groups"] = grouped_json(summaries, per_group=not args.no_per_group)


def human_groups(result: dict[str, Any]) -> str:
    """The per-group table under the pooled values."""
    if "groups" not in result:
        return ""
    lines = [f"  {'per group':<22} {'mean':>8} {'median':>8} {'worst10%':>9}  worst group"]
    for key, g in result["groups"].items():
        lines.append(f"  {key:<22} {g['mean']:>8.4g} {g['median']:>8.4g} {g['worst_decile']:>9.4g}  "
                     f"{g['worst_group']!r} {g['worst']:.4g}  ({g['groups']} groups)")
    return "\n".join(lines)


def check_group_args(args: argparse.Namespace) -> None:
    """--real-groups without --groups: one sentence."""
    if args.real_groups is not None and args.groups is None:
        raise ConfigError("--real-groups pairs the real set's groups with --groups; give --groups too.")
    if args.groups is not None and not isinstance(args.groups, str):
        raise ConfigError("--groups takes a file or 'subfolders'.")


