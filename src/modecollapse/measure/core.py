"""Measuring a generator's samples against real data: the metric registry and one call.

Each metric registers a :class:`MetricSpec` in :data:`METRICS` under the name its JSON key
carries (``precision``, ``fid``, ``vendi`` ...); ``modecollapse measure --metrics`` draws its
choices from this registry. Adding a metric is one registration: a compute function of the
:class:`Session`, and, when it has parameters, a dataclass whose fields (help text in their
metadata) become the options ``--<prefix>-<field>`` and ``MeasureParams.of(prefix)``. :func:`measure` runs the requested metrics on feature tensors
and returns one JSON-ready dict: the values, each metric's parameters as used, directions
and timings. Shared work is done once per call: the four k-NN metrics share one distance
sweep, and the real side's k-NN radii and moments can come from :class:`ReferenceStats`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..data.base import Benchmark
from ..errors import ConfigError
from ..metrics._checks import check_features, check_positive_int, compute_dtype, resolve_device
from ..metrics.birthday import birthday
from ..metrics.effective_rank import effective_rank
from ..metrics.embedding_std import embedding_std
from ..metrics.fid import frechet_distance, moments
from ..metrics.isc import isc
from ..metrics.kid import kid
from ..metrics.knn import knn_sqdist
from ..metrics.memorisation import memorisation
from ..metrics.modes import mode_stats
from ..metrics.mutual_info import mutual_information
from ..metrics.ndb import ndb
from ..metrics.prdc import PRDC, prdc
from ..metrics.reference import ReferenceStats, fingerprint
from ..metrics.vendi import KERNELS, vendi
from ..registry import Registry, option


# -- each metric's parameters: one dataclass per metric (or pair of metrics sharing them), whose
# fields become the options --<prefix>-<field> of `modecollapse measure` (help text here).
@dataclass
class PRParams:
    k: int = option(3, help="neighbours k of precision and recall (Kynkaanniemi et al.: 3)")

    def validate(self) -> None:
        check_positive_int(self.k, "pr-k")


@dataclass
class DCParams:
    k: int = option(5, help="neighbours k of density and coverage (Naeem et al.: 5)")

    def validate(self) -> None:
        check_positive_int(self.k, "dc-k")


@dataclass
class KIDParams:
    subsets: int = option(100, help="KID: number of random subsets averaged")
    subset_size: int | None = option(None, help="KID: samples per subset and side (auto: min(1000, n_real, n_fake))")
    degree: int = option(3, help="KID: degree of the polynomial kernel")
    gamma: float | None = option(None, help="KID: kernel scale gamma in (gamma x.y + coef0)^degree (auto: 1/d)")
    coef0: float = option(1.0, help="KID: kernel offset coef0")

    def validate(self) -> None:
        check_positive_int(self.subsets, "kid-subsets")
        check_positive_int(self.degree, "kid-degree")
        if self.subset_size is not None:
            check_positive_int(self.subset_size, "kid-subset-size", minimum=2)
        if self.gamma is not None and not self.gamma > 0:
            raise ConfigError(f"kid-gamma must be positive (or left out for 1/d), got {self.gamma}.")
        if not self.coef0 >= 0:  # the polynomial kernel is positive definite for coef0 >= 0
            raise ConfigError(f"kid-coef0 must be >= 0, got {self.coef0}.")


@dataclass
class VendiParams:
    kernel: str = option("cosine", help="Vendi kernel: cosine, linear or rbf (rbf needs --vendi-bandwidth)")
    order: float = option(1.0, help="Vendi order q: 0, 0.5, 1 (Shannon), 2, inf ...")
    bandwidth: float | None = option(None, help="Vendi rbf bandwidth: the distance below which samples are alike")
    max_exact: int = option(5000, help="Vendi rbf: largest n scored exactly; above, a seeded subset of this size")

    def validate(self) -> None:
        check_positive_int(self.max_exact, "vendi-max-exact")
        if self.kernel not in KERNELS:
            raise ConfigError(f"unknown Vendi kernel {self.kernel!r}; choose one of: {', '.join(KERNELS)}.")
        if not self.order >= 0:
            raise ConfigError(f"the Vendi order must be >= 0 (e.g. 0, 0.5, 1, 2, inf), got {self.order}.")
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise ConfigError(f"vendi-bandwidth must be positive, got {self.bandwidth}.")


@dataclass
class NDBParams:
    bins: int = option(50, help="NDB: number of k-means bins K fitted on the real set")
    alpha: float = option(0.05, help="NDB: significance level of the per-bin two-proportion z-test")
    max_iter: int = option(50, help="NDB: k-means Lloyd iterations at most")

    def validate(self) -> None:
        check_positive_int(self.max_iter, "ndb-max-iter")
        check_positive_int(self.bins, "ndb-bins", minimum=2)
        if not 0 < self.alpha < 1:
            raise ConfigError(f"ndb-alpha must lie in (0, 1), got {self.alpha}.")


@dataclass
class BirthdayParams:
    batch_size: int = option(256, help="birthday: batch size s in which duplicates are sought")
    threshold: float | None = option(None, help="birthday: duplicate distance (auto: the real quantile below)")
    quantile: float = option(0.001, help="birthday: quantile of real within-batch distances used as threshold")

    def validate(self) -> None:
        check_positive_int(self.batch_size, "birthday-batch-size", minimum=2)
        if self.threshold is not None and not self.threshold >= 0:
            raise ConfigError(f"birthday-threshold must be >= 0, got {self.threshold}.")
        if not 0 < self.quantile < 1:
            raise ConfigError(f"birthday-quantile must lie in (0, 1), got {self.quantile}.")


@dataclass
class ISCParams:
    splits: int = option(10, help="Inception Score: number of splits of the fake set (torch-fidelity: 10)")
    seed: int = option(2020, help="Inception Score: seed of the shuffle before splitting (torch-fidelity: 2020; -1 keeps the order)")

    def validate(self) -> None:
        check_positive_int(self.splits, "isc-splits")
        if self.seed < -1:
            raise ConfigError(f"isc-seed must be >= 0, or -1 to keep the order, got {self.seed}.")


@dataclass
class MIParams:
    k: int = option(3, help="mutual information: neighbours k of the KSG estimator")

    def validate(self) -> None:
        check_positive_int(self.k, "mi-k")


@dataclass
class MemorisationParams:
    ratio: float = option(1.0 / 3.0, help="memorisation: a fake copies a real sample when d1/d2 < ratio")

    def validate(self) -> None:
        if not 0 < self.ratio <= 1:
            raise ConfigError(f"memorisation-ratio must lie in (0, 1], got {self.ratio}.")


@dataclass
class MeasureParams:
    """The parameters every metric shares, and each metric's own (``metric[prefix]``, an
    instance of the ``Params`` of the metrics registered with that ``prefix``; defaults are
    the papers', see ``modecollapse measure --help``)."""

    seed: int = option(0, help="seed of every random choice (KID subsets, k-means, birthday batches, Vendi subset)")
    chunk_size: int = option(2048, help="rows per block of the exact blockwise distance computations")
    device: str = option("cpu", help="cpu or cuda[:N] for the feature extractor and the distance computations")
    metric: dict[str, Any] = option(factory=dict, help="each metric's parameters", flag="--<prefix>-<field>")

    def __post_init__(self) -> None:
        for _, spec in METRICS.items():
            if spec.Params is not None and spec.prefix not in self.metric:
                self.metric[spec.prefix] = spec.Params()

    def of(self, prefix: str) -> Any:
        """The parameters of the metrics registered with ``prefix`` (``"kid"``, ``"pr"`` ...)."""
        return self.metric[prefix]

    def validate(self) -> None:
        check_positive_int(self.chunk_size, "chunk-size")
        for p in self.metric.values():
            if hasattr(p, "validate"):
                p.validate()


@dataclass
class Inputs:
    """Feature tensors (n, d) and optional extras; ``real`` may be None when stats suffice."""

    fake: torch.Tensor
    real: torch.Tensor | None = None
    latent: torch.Tensor | None = None  # (n_fake, d_z), row i produced fake row i
    logits: torch.Tensor | None = None  # (n_fake, classes): the extractor's logits of the fake samples (isc)
    modes: Benchmark | None = None
    modes_source: str = ""
    reference: ReferenceStats | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A metric as the command line knows it. ``compute`` returns (values, parameters used)."""

    name: str
    higher_is_better: bool
    summary: str
    needs: tuple[str, ...]  # of "real", "latent", "modes", "logits"
    compute: Callable[[Session], tuple[dict[str, Any], dict[str, Any]]]
    #: the metric's parameter dataclass (options --<prefix>-<field>); metrics that share
    #: parameters (precision and recall) give the same class and prefix
    Params: type | None = None
    prefix: str = ""


#: metric name (= its main JSON key) -> spec.
METRICS: Registry[MetricSpec] = Registry("metric")


class Session:
    """One measurement: inputs, parameters and the work shared between metrics."""

    def __init__(self, inputs: Inputs, params: MeasureParams, wanted: list[str]) -> None:
        self.inputs = inputs
        self.p = params
        self.wanted = wanted
        self._prdc: PRDC | None = None

    @property
    def real(self) -> torch.Tensor:
        assert self.inputs.real is not None
        return self.inputs.real

    def reference(self) -> ReferenceStats:
        if self.inputs.reference is None:
            r = self.real
            self.inputs.reference = ReferenceStats(n=len(r), dim=r.shape[1], fingerprint=fingerprint(r))
        return self.inputs.reference

    def prdc(self) -> PRDC:
        if self._prdc is None:
            pr_k = self.p.of("pr").k if {"precision", "recall"} & set(self.wanted) else None
            dc_k = self.p.of("dc").k if {"density", "coverage"} & set(self.wanted) else None
            kmax = max(k for k in (pr_k, dc_k) if k is not None)
            ref = self.reference()
            dtype = compute_dtype(self.real)
            knn = ref.knn_for(kmax, dtype)
            if knn is None and len(self.real) > kmax:
                knn = knn_sqdist(self.real, k=kmax, chunk_size=self.p.chunk_size, device=self.p.device)
                ref.knn, ref.knn_dtype, ref.changed = knn, str(dtype), True
            self._prdc = prdc(real=self.real, fake=self.inputs.fake, pr_k=pr_k, dc_k=dc_k,
                              chunk_size=self.p.chunk_size, device=self.p.device, real_knn=knn)
        return self._prdc

    def real_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        ref = self.inputs.reference
        if ref is not None and ref.mean is not None and ref.cov is not None:
            return ref.mean, ref.cov
        if self.inputs.real is None:
            raise ConfigError("fid needs --real features or a --real-stats file that holds their moments.")
        check_features(self.real, "real", min_samples=2, why="a covariance needs 2 samples")
        mean, cov = moments(self.real, chunk_size=self.p.chunk_size)
        ref = self.reference()
        ref.mean, ref.cov, ref.changed = mean, cov, True
        return mean, cov


def _prdc_metric(name: str, prefix: str, source: str) -> Callable[[Session], tuple[dict, dict]]:
    def compute(s: Session) -> tuple[dict, dict]:
        return {name: getattr(s.prdc(), name)}, {"k": s.p.of(prefix).k}

    compute.__doc__ = f"{name.capitalize()} of the fake set against the real set ({source}); one k-NN sweep for all four."
    return compute


def _fid(s: Session) -> tuple[dict, dict]:
    """Frechet distance of the feature Gaussians (Heusel et al. 2017), real moments from a reference when given."""
    fake = s.inputs.fake
    check_features(fake, "fake", min_samples=2, why="a covariance needs 2 samples")
    mu_r, cov_r = s.real_moments()
    if len(mu_r) != fake.shape[1]:
        raise ConfigError(f"real and fake have different feature dimensions ({len(mu_r)} vs {fake.shape[1]}); "
                          "extract both with the same feature extractor.")
    mu_f, cov_f = moments(fake, chunk_size=s.p.chunk_size)
    return {"fid": frechet_distance(mu_r, cov_r, mu_f, cov_f)}, {}


def _kid(s: Session) -> tuple[dict, dict]:
    """Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 averaged over subsets."""
    p = s.p.of("kid")
    r = kid(real=s.real, fake=s.inputs.fake, subsets=p.subsets, subset_size=p.subset_size,
            degree=p.degree, gamma=p.gamma, coef0=p.coef0, seed=s.p.seed, device=s.p.device)
    params = {"subsets": r.subsets, "subset_size": r.subset_size, "degree": r.degree, "gamma": r.gamma,
              "coef0": r.coef0, "seed": s.p.seed}
    return {"kid": r.kid, "kid_std": r.kid_std}, params


def _vendi(s: Session) -> tuple[dict, dict]:
    """Vendi score of the fake set, and of the real set when given (Friedman & Dieng 2023)."""
    p = s.p.of("vendi")
    kw = dict(order=p.order, kernel=p.kernel, bandwidth=p.bandwidth,
              max_exact=p.max_exact, seed=s.p.seed, chunk_size=s.p.chunk_size, device=s.p.device)
    f = vendi(samples=s.inputs.fake, **kw)  # type: ignore[arg-type]
    values: dict[str, Any] = {"vendi": f.vendi}
    if s.inputs.real is not None:
        values["vendi_real"] = vendi(samples=s.real, **kw).vendi  # type: ignore[arg-type]
    params = {"kernel": f.kernel, "order": _json_float(f.order), "bandwidth": f.bandwidth,
              "method": f.method, "samples_used": f.n_used, "seed": s.p.seed}
    return values, params


def _ndb(s: Session) -> tuple[dict, dict]:
    """Number of statistically different bins and their JS divergence (Richardson & Weiss 2018)."""
    p = s.p.of("ndb")
    r = ndb(real=s.real, fake=s.inputs.fake, bins=p.bins, alpha=p.alpha, max_iter=p.max_iter,
            seed=s.p.seed, chunk_size=s.p.chunk_size)
    return ({"ndb": r.ndb, "ndb_js": r.js, "ndb_different_bins": r.different_bins},
            {"bins": r.bins, "alpha": r.alpha, "max_iter": p.max_iter, "seed": s.p.seed})


def _birthday(s: Session) -> tuple[dict, dict]:
    """Support size by the birthday paradox, fake and real (Arora & Zhang 2017)."""
    p = s.p.of("birthday")
    r = birthday(real=s.real, fake=s.inputs.fake, threshold=p.threshold, quantile=p.quantile,
                 batch_size=p.batch_size, seed=s.p.seed)
    values = {"birthday": r.support, "birthday_real": r.support_real,
              "birthday_duplicate_rate": r.duplicate_rate, "birthday_duplicate_rate_real": r.duplicate_rate_real}
    params = {"threshold": r.threshold, "threshold_from": "given" if p.threshold is not None
              else f"real quantile {p.quantile}", "batch_size": r.batch_size, "seed": s.p.seed}
    return values, params


def _isc(s: Session) -> tuple[dict, dict]:
    """Inception Score of the fake set from its logits (Salimans et al. 2016)."""
    assert s.inputs.logits is not None
    p = s.p.of("isc")
    r = isc(logits=s.inputs.logits, splits=p.splits, seed=None if p.seed < 0 else p.seed)
    return {"isc": r.isc, "isc_std": r.isc_std}, {"splits": r.splits, "seed": p.seed}


def _mutual_info(s: Session) -> tuple[dict, dict]:
    """KSG estimate of I(latent; fake) (Kraskov et al. 2004)."""
    assert s.inputs.latent is not None
    r = mutual_information(latent=s.inputs.latent, samples=s.inputs.fake, k=s.p.of("mi").k, device=s.p.device)
    return {"mutual_info": r.mutual_info}, {"k": r.k, "unit": "nats"}


def _memorisation(s: Session) -> tuple[dict, dict]:
    """Share of fake samples copying one real sample, d1/d2 < ratio (Yoon et al. 2023), and the real set's own rate."""
    ref = s.inputs.reference
    knn = ref.knn_for(2, compute_dtype(s.real)) if ref is not None else None
    r = memorisation(real=s.real, fake=s.inputs.fake, ratio=s.p.of("memorisation").ratio,
                     chunk_size=s.p.chunk_size, device=s.p.device, real_knn=knn)
    return ({"memorisation": r.memorisation, "memorised_count": r.count, "memorisation_real": r.real_baseline},
            {"ratio": r.ratio})


def _effective_rank(s: Session) -> tuple[dict, dict]:
    """Effective rank of the fake embeddings, and of the real ones when given (Roy & Vetterli 2007; RankMe)."""
    values = {"effective_rank": effective_rank(embeddings=s.inputs.fake).effective_rank}
    if s.inputs.real is not None:
        values["effective_rank_real"] = effective_rank(embeddings=s.real).effective_rank
    return values, {"centered": False}


def _embedding_std(s: Session) -> tuple[dict, dict]:
    """Per-dimension std of the fake embeddings, mean and min (Bardes et al. 2022, VICReg)."""
    r = embedding_std(embeddings=s.inputs.fake)
    return {"embedding_std": r.embedding_std, "embedding_std_min": r.embedding_std_min}, {"normalized": False}


def _modes(s: Session) -> tuple[dict, dict]:
    """Modes captured, high-quality fraction and reverse KL on known modes (Srivastava et al. 2017; Lin et al. 2018)."""
    assert s.inputs.modes is not None
    fake = s.inputs.fake
    check_features(fake, "fake")
    if fake.shape[1] != s.inputs.modes.dim:
        raise ConfigError(f"the modes are {s.inputs.modes.dim}-dimensional but the fake samples have "
                          f"{fake.shape[1]} dimensions; measure mode statistics on raw samples.")
    st = mode_stats(samples=fake, benchmark=s.inputs.modes)
    d = st.as_dict()
    values = {"modes": d["modes"], "num_modes": d["num_modes"], "hq_fraction": d["hq_fraction"],
              "reverse_kl": d["reverse_kl"], "mode_counts": d["counts"]}
    return values, {"source": s.inputs.modes_source}


for _spec in [
    MetricSpec("precision", True, "fraction of fake samples inside the real k-NN manifold (fidelity; "
               "Kynkaanniemi 2019)", ("real",), _prdc_metric("precision", "pr", "Kynkaanniemi et al. 2019"), PRParams, "pr"),
    MetricSpec("recall", True, "fraction of real samples inside the fake k-NN manifold (diversity; falls when "
               "modes are dropped)", ("real",), _prdc_metric("recall", "pr", "Kynkaanniemi et al. 2019"), PRParams, "pr"),
    MetricSpec("density", True, "real k-NN balls holding each fake sample / k, ~1 for a match (Naeem 2020)",
               ("real",), _prdc_metric("density", "dc", "Naeem et al. 2020"), DCParams, "dc"),
    MetricSpec("coverage", True, "fraction of real k-NN balls holding a fake sample (falls when modes are dropped)",
               ("real",), _prdc_metric("coverage", "dc", "Naeem et al. 2020"), DCParams, "dc"),
    MetricSpec("fid", False, "Frechet distance of the feature Gaussians (blind to modes that keep the moments)",
               (), _fid),
    MetricSpec("kid", False, "unbiased MMD^2, cubic polynomial kernel, mean (kid) and std (kid_std) over subsets",
               ("real",), _kid, KIDParams, "kid"),
    MetricSpec("vendi", True, "Vendi score of the fake set: effective number of modes (vendi_real: the real set's)",
               (), _vendi, VendiParams, "vendi"),
    MetricSpec("ndb", False, "share of k-means bins whose fake share differs (z-test); ndb_js: JS divergence",
               ("real",), _ndb, NDBParams, "ndb"),
    MetricSpec("birthday", True, "birthday-paradox support size of the fake set (birthday_real: the real set's)",
               ("real",), _birthday, BirthdayParams, "birthday"),
    MetricSpec("memorisation", False, "share of fake samples copying one real (training) sample: d1/d2 < ratio",
               ("real",), _memorisation, MemorisationParams, "memorisation"),
    MetricSpec("isc", True, "Inception Score of the fake set from the extractor's logits, mean (isc) and std "
               "(isc_std) over splits (needs an extractor with logits: inception-v3)", ("logits",), _isc, ISCParams, "isc"),
    MetricSpec("mutual_info", True, "KSG estimate of I(latent; fake) in nats (needs --latent; low dimensions only)",
               ("latent",), _mutual_info, MIParams, "mi"),
    MetricSpec("effective_rank", True, "exp entropy of the singular values (RankMe), 1..d; falls toward 1 when "
               "embeddings collapse (effective_rank_real: the real set's)", (), _effective_rank),
    MetricSpec("embedding_std", True, "per-dimension std of the fake set, mean (embedding_std_min: min); falls "
               "toward 0 when embeddings collapse (VICReg)", (), _embedding_std),
    MetricSpec("modes", True, "modes captured, hq_fraction and reverse_kl (needs --modes-from, --modes-centres or "
               "--mode-classifier)", ("modes",), _modes),
]:
    METRICS.add(_spec.name, _spec)

#: measured when --metrics is not given (isc, mutual_info and modes join when their inputs are there).
DEFAULT_METRICS = ("precision", "recall", "density", "coverage", "fid", "kid", "vendi", "ndb", "birthday", "memorisation")


def default_metrics(inputs: Inputs) -> list[str]:
    names = list(DEFAULT_METRICS) if inputs.real is not None else ["fid", "vendi"]
    if inputs.logits is not None:
        names.append("isc")
    if inputs.latent is not None:
        names.append("mutual_info")
    if inputs.modes is not None:
        names.append("modes")
    return names


def _json_float(v: float | None) -> float | str | None:
    return "inf" if v is not None and math.isinf(v) else v


def _check_inputs(inputs: Inputs, names: list[str]) -> None:
    for name in names:
        spec = METRICS.get(name)
        if "real" in spec.needs and inputs.real is None:
            raise ConfigError(f"metric {name!r} needs the real features; pass --real FILE.")
        if "latent" in spec.needs and inputs.latent is None:
            raise ConfigError(f"metric {name!r} needs the latent codes behind the fake samples; pass --latent FILE.")
        if "logits" in spec.needs and inputs.logits is None:
            raise ConfigError(f"metric {name!r} needs class logits of the fake samples; use an extractor that has "
                              "them (--extractor inception-v3).")
        if "logits" in spec.needs and len(inputs.logits) != len(inputs.fake):
            raise ConfigError(f"there are {len(inputs.logits)} rows of logits for {len(inputs.fake)} fake samples; "
                              "give one row per fake sample.")
        if "modes" in spec.needs and inputs.modes is None:
            raise ConfigError(f"metric {name!r} needs the modes; pass --modes-from NAME, --modes-centres FILE "
                              "or --mode-classifier SPEC.")
    ref = inputs.reference
    if "fid" in names and inputs.real is None and (ref is None or ref.mean is None):
        raise ConfigError("metric 'fid' needs --real features or a --real-stats file holding their moments.")


def measure(inputs: Inputs, params: MeasureParams, metrics: list[str] | None = None,
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Runs ``metrics`` (default :func:`default_metrics`) and returns the JSON-ready result."""
    params.validate()
    names = list(dict.fromkeys(metrics or default_metrics(inputs)))
    for name in names:
        METRICS.get(name)  # unknown names fail before any work
    _check_inputs(inputs, names)
    resolve_device(params.device, inputs.fake)
    check_features(inputs.fake, "fake")
    if inputs.real is not None:
        check_features(inputs.real, "real")
        if inputs.real.shape[1] != inputs.fake.shape[1]:
            raise ConfigError(f"real and fake have different feature dimensions ({inputs.real.shape[1]} vs "
                              f"{inputs.fake.shape[1]}); extract both with the same feature extractor.")
    session = Session(inputs, params, names)
    out: dict[str, Any] = {}
    used: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in names:
        if progress is not None:
            progress(name)
        t0 = time.perf_counter()
        values, p = METRICS.get(name).compute(session)
        seconds[name] = round(time.perf_counter() - t0, 3)
        out.update(values)
        used[name] = p
    out["higher_is_better"] = {n: METRICS.get(n).higher_is_better for n in names}
    out["params"] = used
    out["n_real"] = None if inputs.real is None else len(inputs.real)
    out["n_fake"] = len(inputs.fake)
    out["dim"] = inputs.fake.shape[1]
    out["device"] = params.device
    out["seconds"] = seconds
    return out
