"""Streaming KID, k-NN metrics and FID: update / compute / reset / merge, and two processes."""
import json
import socket

import pytest
import torch
import torch.multiprocessing as mp

from modecollapse.metrics import StreamingFID, StreamingKID, StreamingPRDC, fid, kid, prdc

KID_ARGS = {"subsets": 7, "subset_size": 40, "seed": 3}


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(120, 6, generator=g)
    fake = torch.randn(100, 6, generator=g) * 1.3 + 0.2
    fake[10:15] = real[:5]  # copies: the exact k-NN path runs too
    return real, fake


def _feed(metric, real, fake, step=17):
    for a in range(0, max(len(real), len(fake)), step):
        metric.update(real=real[a:a + step] if a < len(real) else None, fake=fake[a:a + step] if a < len(fake) else None)
    return metric


def test_streaming_kid_equals_kid_on_the_concatenated_batches():
    real, fake = _data()
    s = _feed(StreamingKID(**KID_ARGS), real, fake)
    assert s.compute() == kid(real=real, fake=fake, **KID_ARGS)
    s.reset(real=False)
    _feed(s, torch.empty(0, 6), fake[:60])
    assert s.compute() == kid(real=real, fake=fake[:60], **KID_ARGS)


def test_streaming_kid_memory_is_bounded_and_its_sample_uniform():
    stream = torch.arange(30, dtype=torch.float32)[:, None].repeat(1, 2)
    hits = torch.zeros(30)
    for seed in range(600):
        s = StreamingKID(max_samples=10, seed=seed)
        _feed(s, stream, stream, step=7)
        assert s.real.rows.shape == (10, 2) and s.real.n == 30
        hits[s.real.rows[:, 0].long()] += 1
    freq = hits / 600  # each row kept with probability 10 / 30
    assert float(freq.min()) > 0.25 and float(freq.max()) < 0.42


def test_merge_equals_one_accumulator_fed_everything():
    real, fake = _data(1)
    half_r, half_f = len(real) // 2, len(fake) // 2
    k_a, k_b = _feed(StreamingKID(**KID_ARGS), real[:half_r], fake[:half_f]), \
        _feed(StreamingKID(**KID_ARGS), real[half_r:], fake[half_f:])
    assert k_a.merge(k_b).compute() == kid(real=real, fake=fake, **KID_ARGS)
    p_a, p_b = _feed(StreamingPRDC(), real[:half_r], fake[:half_f]), _feed(StreamingPRDC(), real[half_r:], fake[half_f:])
    assert p_a.merge(p_b).compute() == prdc(real=real, fake=fake)
    f_a, f_b = _feed(StreamingFID(), real[:half_r] + 100, fake[:half_f]), \
        _feed(StreamingFID(), real[half_r:] + 100, fake[half_f:])
    assert f_a.merge(f_b).compute().fid == pytest.approx(fid(real=real + 100, fake=fake).fid, rel=1e-9)


def test_streaming_prdc_equals_prdc_and_keeps_the_real_side():
    real, fake = _data(2)
    s = _feed(StreamingPRDC(pr_k=3, dc_k=4), real, fake, step=23)
    assert s.compute() == prdc(real=real, fake=fake, pr_k=3, dc_k=4)
    knn = s._real_knn
    s.reset(real=False)
    s.update(fake=fake[:50])
    assert s.compute() == prdc(real=real, fake=fake[:50], pr_k=3, dc_k=4)
    assert s._real_knn is knn  # the real radii were not recomputed
    with pytest.raises(ValueError, match="needs real and fake"):
        StreamingPRDC().compute()


def _worker(rank, port, out):
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        real, fake = _data(3)
        mine = slice(0, 70) if rank == 0 else slice(70, None)  # rank 0 holds the first rows, as one process would
        k = _feed(StreamingKID(**KID_ARGS), real[mine], fake[mine], step=9).compute()
        p = _feed(StreamingPRDC(), real[mine], fake[mine], step=9).compute()
        f = _feed(StreamingFID(), real[mine], fake[mine], step=9).compute()
        result = {"kid": [k.kid, k.kid_std], "prdc": [p.precision, p.recall, p.density, p.coverage],
                  "fid": f.fid, "n": [f.n_real, f.n_fake]}
        with open(f"{out}/rank{rank}.json", "w") as fh:
            json.dump(result, fh)
    finally:
        torch.distributed.destroy_process_group()


def test_two_gloo_processes_equal_one_process(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]  # every rank gets the same numbers
    real, fake = _data(3)
    k, p = kid(real=real, fake=fake, **KID_ARGS), prdc(real=real, fake=fake)
    assert ranks[0]["kid"] == [k.kid, k.kid_std]
    assert ranks[0]["prdc"] == [p.precision, p.recall, p.density, p.coverage]
    assert ranks[0]["fid"] == pytest.approx(fid(real=real, fake=fake).fid, rel=1e-9)
    assert ranks[0]["n"] == [len(real), len(fake)]
