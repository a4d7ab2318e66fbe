"""Where the published weight files of the pretrained feature networks are found, and how
they are read.

Nothing is downloaded at run time. A network's file is, in this order: the path given
(``--extractor-weights FILE`` / ``weights=``), the file's usual name in
``$MODECOLLAPSE_WEIGHTS``, or the same name in torch hub's checkpoint folder
(``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``), where torch hub
left it the first time pytorch-fid, torch-fidelity or DINOv2 ran on the machine. Files are
read with ``torch.load(..., weights_only=True)``: a state dict of tensors, no pickled code.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError

WEIGHTS_ENV = "MODECOLLAPSE_WEIGHTS"


@dataclass(frozen=True)
class WeightFile:
    """A published weight file: the names it goes by (the first is the one asked for) and where
    a user gets it."""

    network: str
    names: tuple[str, ...]
    url: str


def hub_checkpoints_dir() -> Path:
    """torch hub's checkpoint folder: ``$TORCH_HOME/hub/checkpoints`` (default ~/.cache/torch)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def search_dirs() -> list[Path]:
    """The folders searched for a weight file's usual name, in order."""
    dirs = []
    if os.environ.get(WEIGHTS_ENV):
        dirs.append(Path(os.environ[WEIGHTS_ENV]).expanduser())
    dirs.append(hub_checkpoints_dir())
    return dirs


def find_weights(spec: WeightFile, weights: str | os.PathLike | None = None) -> Path:
    """The path of ``spec``'s file: ``weights`` when given, else its usual names in
    :func:`search_dirs`; a missing file is one :class:`ConfigError` saying where to get it."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"the {spec.network} weights file {path} does not exist; give the path of "
                              f"{spec.names[0]} (from {spec.url}).")
        return path
    dirs = search_dirs()
    for d in dirs:
        for name in spec.names:
            if (d / name).is_file():
                return d / name
    where = " and ".join(str(d) for d in dirs)
    raise ConfigError(
        f"the {spec.network} weights {spec.names[0]} are not in {where}; download it once from {spec.url} "
        f"into one of those folders (or set ${WEIGHTS_ENV}), or pass --extractor-weights FILE."
    )


def cache_key(name: str, path: Path | None, *extra: str) -> str:
    """A file-name-safe key for cached outputs of network ``name`` with the weights at ``path``:
    the weight file's name, size and modification time (a changed file is a new key) and any
    ``extra`` preprocessing choices."""
    import hashlib

    parts = [name, *extra]
    if path is not None:
        st = Path(path).stat()
        parts += [Path(path).name, str(st.st_size), str(st.st_mtime_ns)]
    return f"{name}-{hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()}"


def read_state_dict(path: Path, network: str) -> dict[str, torch.Tensor]:
    """The tensors in ``path`` (a state dict, or one under a ``state_dict``/``model`` key),
    read with ``weights_only=True``."""
    try:
        with warnings.catch_warnings():  # the error below is the one line the user sees
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file is unusable
        raise ConfigError(f"cannot read {path} as {network} weights ({type(err).__name__}); "
                          "give the published .pth file.") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path} does not hold a state dict of tensors; give the published {network} .pth file.")
    return dict(state)


def untouched_rng(factory):
    """``factory()`` (a network whose random init is about to be overwritten by its weights)
    built on a fork of the global random stream: loading an extractor never moves the caller's
    training run onto another random path."""
    with torch.random.fork_rng(devices=[]):
        return factory()


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, network: str,
                optional: tuple[str, ...] = ()) -> None:
    """Loads ``state`` into ``module`` with every key and shape matching; keys ending in one of
    ``optional`` (e.g. BatchNorm's ``num_batches_tracked``) may be absent. A mismatch is one
    sentence naming the first differences."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(optional)]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(own[k].shape)})"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} tensors of the wrong shape ({', '.join(wrong[:2])})")
        raise ConfigError(f"{path} is not a {network} weights file: {'; '.join(parts)}.")
    full = {k: state[k] if k in state else own[k] for k in own}
    module.load_state_dict(full, strict=True)
