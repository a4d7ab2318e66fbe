"""The image suite's truth (benchmarks/monitor_images.py) on hand-made checks with known labels."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import monitor_images as mi  # noqa: E402

STEPS = [100 * i for i in range(1, 21)]  # truth from step 1000: checks 10..20


def mnist_checks(digits, closeness=1.0, share=None):
    share = share or [0.1] * 10
    return [{"digits": d, "closeness": closeness, "share": share} for d in digits]


def test_mild_drop_is_an_onset_a_dip_is_not():
    before = [9] * 9
    truth = mi.run_truth(mnist_checks(before + [9, 7, 7, 7, 6, 7, 7, 7, 7, 7, 7]), STEPS)
    assert truth["label"] == "collapsing" and truth["kind"] == "dropped-modes" and truth["onset"] == 1100
    dip = mi.run_truth(mnist_checks(before + [9, 7, 7, 7, 9, 9, 9, 9, 10, 9, 9]), STEPS)
    assert dip["label"] == "healthy" and dip["onset"] is None  # 3 bad checks, then 7 good ones
    two = mi.run_truth(mnist_checks(before + [9, 7, 7, 9, 9, 9, 9, 9, 9, 9, 9]), STEPS)
    assert two["label"] == "healthy"  # two in a row happen by chance
    partial = mi.run_truth(mnist_checks(before + [8] * 11), STEPS)
    assert partial["label"] == "partial"  # never under 8 digits, median under 9


def test_near_duplicates_with_most_digits_are_within_mode():
    truth = mi.run_truth(mnist_checks([8] * 20, closeness=0.2), STEPS)
    assert truth["label"] == "collapsing" and truth["kind"] == "within-mode" and truth["onset"] == 1000
    few = mi.run_truth(mnist_checks([3] * 20, closeness=0.2), STEPS)
    assert few["kind"] == "dropped-modes"  # under WITHIN_DIGITS the digits are dropped


def test_hopping_needs_two_moves_while_dropped():
    a, b = [0.5, 0.5] + [0.0] * 8, [0.0, 0.0, 0.5, 0.5] + [0.0] * 6
    checks = [{"digits": 9, "closeness": 1.0, "share": [0.1] * 10} for _ in range(9)]
    checks += [{"digits": 2, "closeness": 1.0, "share": a if i % 2 else b} for i in range(11)]
    truth = mi.run_truth(checks, STEPS)
    assert truth["kind"] == "hopping" and truth["moves"] >= 2


def test_stacked_mnist_truth_is_relative_to_real_triples():
    def stacked(modes):
        return [{"modes": m, "modes_real": 640.0, "share": [1 / 30] * 30, "digits": None, "closeness": None}
                for m in modes]
    assert mi.run_truth(stacked([450] * 20), STEPS)["label"] == "healthy"  # 0.70 of real
    drop = mi.run_truth(stacked([450] * 12 + [300] * 8), STEPS)  # 0.47 of real from step 1300
    assert drop["label"] == "collapsing" and drop["kind"] == "dropped-modes" and drop["onset"] == 1300
    assert mi.run_truth(stacked([350] * 20), STEPS)["label"] == "partial"  # 0.55: neither


def test_the_oracle_rule_alarms_where_enough_digits_are_thin_over_its_window():
    """benchmarks/monitor_images_oracle.py's rule on hand-made digit shares: two digits at 2%
    from the third check on; pooled over 3 checks the alarm comes when the window holds only
    thin checks, and one thin digit is not enough for need=2."""
    import torch

    from monitor_images_oracle import rule_alarms

    even = [0.1] * 10
    thin = [0.02, 0.02] + [0.12] * 8
    one = [0.02] + [0.98 / 9] * 9
    shares = torch.tensor([even, even, thin, thin, thin, one])
    steps = [100, 200, 300, 400, 500, 600]
    assert rule_alarms(shares, steps, window=1, share=0.3, need=2) == [300, 400, 500]
    assert rule_alarms(shares, steps, window=3, share=0.3, need=2) == [500]
    assert rule_alarms(shares, steps, window=1, share=0.3, need=1) == [300, 400, 500, 600]


def test_digit_modes_reads_each_channel_as_the_truth_counts_it():
    """--modes classifier: the classifier's head on each channel's 128 features; Stacked MNIST's
    three digits read as one number (the triple), MNIST's one digit as itself."""
    import torch

    class Head(torch.nn.Module):  # digit d wins for features whose largest entry is at index d
        def __init__(self):
            super().__init__()
            self.out = torch.nn.Linear(128, 10, bias=False)
            with torch.no_grad():
                self.out.weight.copy_(torch.eye(10, 128))

    def feats(digit):
        f = torch.zeros(128)
        f[digit] = 1.0
        return f

    classify = mi.digit_modes(Head())
    stacked = torch.stack([torch.cat([feats(3), feats(0), feats(7)]), torch.cat([feats(9), feats(9), feats(1)])])
    assert classify(stacked).tolist() == [307, 991]
    assert classify(torch.stack([feats(4), feats(0)])).tolist() == [4, 0]
