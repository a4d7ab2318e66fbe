"""Linear-probe accuracy: a logistic regression trained on frozen features (the standard
self-supervised evaluation; e.g. Chen et al. 2020, SimCLR, §4)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def linear_probe(*, train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor, test_labels: torch.Tensor,
                 classes: int = 10, steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-4) -> float:
    """Test accuracy of a softmax classifier fitted by full-batch Adam on standardised ``train``
    features (n, d); deterministic (zero initialisation, no sampling)."""
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    xtr, xte = (train - mean) / std, (test - mean) / std
    w = torch.zeros(train.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr, weight_decay=weight_decay)
    with torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(xtr @ w + b, train_labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float(((xte @ w + b).argmax(1) == test_labels).float().mean())
