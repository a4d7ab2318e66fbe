"""The named choices of the models' layers, without torch: the run configuration
(``lab/config.py``) is typed with them, and ``modecollapse ... --help`` imports no network."""
from __future__ import annotations

from typing import Literal

#: hidden activation of the mlp networks (``--activation``)
Activation = Literal["relu", "leaky_relu", "tanh", "elu", "silu"]
#: normalisation after a hidden layer of the discriminator, mlp or dcgan (``--d-norm``)
Norm = Literal["none", "batch", "layer", "instance"]
#: normalisation after a hidden layer of the mlp generator (``--g-norm``; the dcgan
#: generators always use batch normalisation)
GNorm = Literal["none", "batch", "layer"]
