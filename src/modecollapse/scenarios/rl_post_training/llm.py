"""The ``llm`` extra (transformers, TRL, tokenizers, datasets), imported only when the scenario
runs, so that ``modecollapse --help`` and the other scenarios never pay for it or need it; and
the state the scenario runs under, restored when it ends: the hub offline (nothing is
downloaded), transformers' and TRL's loggers, progress bars and deprecation warnings quiet
(the scenario has its own bar), and a fixed number of torch threads."""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import warnings
from collections.abc import Iterator

import torch

from ...errors import ConfigError

LLM_EXTRA = "pip install 'modecollapse[llm]'"
_MODULES = ("tokenizers", "transformers", "datasets", "trl")
# set before the first import: huggingface_hub reads them when it is imported
_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
_LOGGERS = ("transformers", "trl", "datasets", "accelerate")


def require_llm() -> None:
    """Imports the extra's modules, or raises one :class:`ConfigError` sentence naming the fix."""
    for name in _MODULES:
        try:
            importlib.import_module(name)
        except ImportError as err:
            missing = getattr(err, "name", None) or name
            raise ConfigError(f"scenario rl-post-training needs the llm extra ({missing} could not be imported); "
                              f"install it with: {LLM_EXTRA}.") from None


@contextlib.contextmanager
def llm_session(threads: int) -> Iterator[None]:
    """Imports the extra (:func:`require_llm`) and runs the block in the state of the module
    docstring with ``threads`` torch threads; everything is put back afterwards."""
    saved_env = {k: os.environ.get(k) for k in _ENVIRONMENT}
    saved_threads = torch.get_num_threads()
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [lg.level for lg in loggers]
    os.environ.update(_ENVIRONMENT)
    try:
        require_llm()
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        torch.set_num_threads(threads)
        try:
            with warnings.catch_warnings():
                for module in ("transformers", "trl", "accelerate", "torch"):
                    warnings.filterwarnings("ignore", module=module)
                yield
        finally:
            if bars:
                hf_logging.enable_progress_bar()
    finally:
        torch.set_num_threads(saved_threads)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
