"""The GRPO settings of the suite: what each is meant to show, and its hyperparameters.

Every setting starts from the same pretrained model and differs from ``collapse-lr`` only in
the fields it names. The ones meant to collapse:

- ``collapse-lr``: verifier reward, no KL, a high learning rate, long: the n completions of
  a prompt converge to one correct answer (answer collapse; pass@1 up, pass@k and distinct
  correct answers down).
- ``template``: a reward for one fixed string whatever the prompt: the completions stop
  depending on the prompt (template collapse). Its learning rate is lower than
  ``collapse-lr``'s because this reward is learned much faster, and a collapse at the first
  check would leave a monitor no healthy checks to start from.
- ``repetition``: a reward for length and repeated characters: completions run to the length
  limit and repeat (repetition); the lower learning rate for the same reason.

The ones meant to keep their diversity (the same verifier reward as ``collapse-lr``):

- ``kl``: a KL penalty to the pretrained model (``beta``) strong enough to hold it near.
- ``low-lr``: a learning rate low enough that the run ends before it sharpens.
- ``entropy-bonus``: TRL's own entropy term in the loss (``entropy_coef``).
- ``diversity-bonus``: the ``diverse-verifier`` reward, which pays a correct completion more
  when it is rare within its group.

And the healthy one where entropy falls for a good reason:

- ``single-answer``: the one-answer ``sums`` prompts with the verifier: sharpening onto the one
  correct answer is learning, not collapse.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from rewards import REWARDS
from task import TASKS


@dataclass(frozen=True)
class Setting:
    """One GRPO setting: task, reward and the hyperparameters that differ between settings."""

    name: str
    task: str = "multiples"
    reward: str = "verifier"
    learning_rate: float = 3e-4
    beta: float = 0.0
    entropy_coef: float = 0.0
    steps: int = 250
    prompts_per_step: int = 16
    num_generations: int = 8
    max_completion_length: int = 6
    temperature: float = 1.0
    check_every: int = 10
    probe_n: int = 8
    truth_n: int = 32

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"setting {self.name}: unknown task {self.task!r}, choose one of {TASKS}")
        if self.reward not in REWARDS:
            raise ValueError(f"setting {self.name}: unknown reward {self.reward!r}, choose one of {REWARDS}")
        if self.steps % self.check_every:
            raise ValueError(f"setting {self.name}: steps ({self.steps}) must be a multiple of "
                             f"check_every ({self.check_every}) so the last step is checked")


_BASE = Setting(name="collapse-lr")

SETTINGS: dict[str, Setting] = {s.name: s for s in (
    _BASE,
    replace(_BASE, name="kl", beta=0.5),
    replace(_BASE, name="low-lr", learning_rate=3e-5),
    replace(_BASE, name="entropy-bonus", entropy_coef=0.2),
    replace(_BASE, name="diversity-bonus", reward="diverse-verifier"),
    replace(_BASE, name="template", reward="template", learning_rate=1e-4),
    replace(_BASE, name="repetition", reward="repetition", learning_rate=1e-4),
    replace(_BASE, name="single-answer", task="sums"),
)}
