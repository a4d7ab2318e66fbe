"""The contract every registered component keeps (the idea of diffusers' shared test mixins).

Every metric (``measure.core.METRICS`` and ``measure.sequences.SEQUENCE_METRICS``), evaluator
(``lab.evaluators.EVALUATORS``), diagnostic and scenario (``experiments``, after
``load_all()``) and feature extractor (``features.EXTRACTORS``) is checked for the same three
things, so a component added to a registry meets them without a test of its own:

- a docstring that cites where it comes from: a paper (author and year) or "this project";
- parameters that refuse a bad value with a :class:`ConfigError` of one sentence (one line,
  ending in a period). Each field is probed with a value bad for its type: NaN for a float
  (and -1e9 where the default is a positive magnitude or left to the component), -1e9 for an
  integer, the path of this file for a string (no benchmark, method, folder or run directory
  is called that) or a Literal, a one-item list of such a value for a tuple; an unknown key too;
- a run on tiny inputs: metrics on 64 x 8 Gaussian features (with a known answer for their
  direction: the better set scores better by ``higher_is_better``), extractors on 2 tiny
  images with random weights, evaluators built with default parameters on ring samples,
  experiments with tiny parameters.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import re
import typing
from pathlib import Path

import pytest
import torch

from modecollapse.errors import ConfigError
from modecollapse.experiments import DIAGNOSTICS, SCENARIOS, load_all, run_experiment
from modecollapse.features import EXTRACTORS, resolve_extractor
from modecollapse.lab.evaluators import EVALUATORS, EvalContext
from modecollapse.measure.core import METRICS, Inputs, MeasureParams, measure
from modecollapse.measure.sequences import SEQUENCE_METRICS, measure_sequences
from modecollapse.registry import params_from_dict

load_all()

#: author (and a co-author or "et al.") then a year, or the project's own
CITATION = re.compile(r"\b[A-Z][\w'-]+(?: et al\.?| (?:&|and) [A-Z][\w'-]+)?,? \(?(?:19|20)\d\d\b|\bthis project\b",
                      re.IGNORECASE)
#: a string no registry, folder or run directory of these components is called
NOT_A_NAME = str(Path(__file__).resolve())


def one_sentence(err: BaseException) -> bool:
    text = str(err)
    return bool(text) and "\n" not in text and text.endswith(".") and "Traceback" not in text


def cites_its_source(obj) -> bool:
    return bool(CITATION.search(inspect.getdoc(obj) or ""))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- parameters ------------------------------------------------------------------------------------
def bad_values(typ, default) -> list:
    """Values of the annotated type ``typ`` that no parameter of a component should take."""
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        inner = [a for a in args if a is not type(None)]
        return bad_values(inner[0], default) if len(inner) == 1 else []
    if origin is typing.Literal:
        return [NOT_A_NAME]
    if origin is tuple:
        smallest = min(default) if default else None
        return [[b] for b in bad_values(args[0] if args else str, smallest)]
    if typ is float:
        magnitude = default is None or (isinstance(default, (int, float)) and default > 0)
        return [float("nan")] + ([-1e9] if magnitude else [])
    if typ is int:
        return [-10**9]
    if typ is str:
        return [NOT_A_NAME]
    return []  # a bool: every value is a valid one


def check_params_refuse_bad_values(cls: type, owner: str) -> None:
    """Each field of the parameter dataclass ``cls``, and an unknown key, refused in one sentence."""
    with pytest.raises(ConfigError) as err:
        params_from_dict(cls, {"no_such_parameter": 1}, owner)
    assert one_sentence(err.value), str(err.value)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        for bad in bad_values(hints[f.name], default):
            with pytest.raises(ConfigError) as err:
                params_from_dict(cls, {f.name: bad}, owner)
            assert one_sentence(err.value), f"{owner}.{f.name}={bad!r}: {err.value}"


# -- metrics ---------------------------------------------------------------------------------------
REAL = torch.randn(64, 8, generator=gen(0))
LATENT = torch.randn(64, 2, generator=gen(1))
#: logits of 64 samples spread over 10 classes, confidently (the Inception Score's best case)
SPREAD_LOGITS = 10.0 * torch.nn.functional.one_hot(torch.arange(64) % 10, 10).float()


def _ring():
    from modecollapse.data import build_dataset

    return build_dataset("ring", {})


def _metric_cases(name: str) -> tuple[Inputs, Inputs]:
    """(better, worse) inputs of metric ``name``, whose answer is known: identical sets beat
    disjoint ones, a spread set beats a collapsed one, copies are memorised, and so on."""
    shifted = REAL + 10.0  # disjoint from the real set
    collapsed = REAL[:1].repeat(64, 1)  # every sample the same point
    if name in ("precision", "recall", "density", "coverage", "fid", "kid", "ndb"):
        return Inputs(fake=REAL.clone(), real=REAL), Inputs(fake=shifted, real=REAL)
    if name in ("vendi", "effective_rank", "embedding_std"):
        return Inputs(fake=REAL.clone()), Inputs(fake=collapsed + 1e-3 * torch.randn(64, 8, generator=gen(2)))
    if name == "birthday":
        few = REAL[:4].repeat(16, 1)  # support of 4
        return Inputs(fake=torch.randn(64, 8, generator=gen(3)), real=REAL), Inputs(fake=few, real=REAL)
    if name == "memorisation":  # lower is better: fresh samples copy nothing, copies copy everything
        return Inputs(fake=torch.randn(64, 8, generator=gen(4)), real=REAL), Inputs(fake=REAL.clone(), real=REAL)
    if name == "isc":
        return (Inputs(fake=REAL.clone(), logits=SPREAD_LOGITS),
                Inputs(fake=REAL.clone(), logits=SPREAD_LOGITS[:1].repeat(64, 1)))
    if name == "mutual_info":  # a function of the latent carries information about it; noise carries none
        return (Inputs(fake=LATENT @ torch.randn(2, 8, generator=gen(5)), latent=LATENT),
                Inputs(fake=REAL.clone(), latent=LATENT))
    if name == "modes":
        ring = _ring()
        every = ring.sample(64, gen(6))
        one = ring.sample_modes(torch.zeros(64, dtype=torch.long), gen(7))
        return Inputs(fake=every, modes=ring), Inputs(fake=one, modes=ring)
    raise AssertionError(f"metric {name!r} has no known-answer case here: add one")


@pytest.mark.parametrize("name", METRICS.names())
def test_a_metric_cites_validates_runs_and_its_direction_is_the_known_answer(name):
    spec = METRICS.get(name)
    assert cites_its_source(spec.compute), f"{name}: {inspect.getdoc(spec.compute)!r}"
    assert isinstance(spec.higher_is_better, bool) and set(spec.needs) <= {"real", "latent", "modes", "logits"}
    if spec.Params is not None:
        check_params_refuse_bad_values(spec.Params, f"metric {name!r}")
    better, worse = _metric_cases(name)
    params = MeasureParams()
    if spec.prefix == "ndb":
        params.metric["ndb"] = params.metric["ndb"].__class__(bins=4)
    if spec.prefix == "birthday":
        params.metric["birthday"] = params.metric["birthday"].__class__(batch_size=16)
    if spec.prefix == "kid":
        params.metric["kid"] = params.metric["kid"].__class__(subsets=10)
    good, bad = (measure(inputs, params, [name])[name] for inputs in (better, worse))
    assert math.isfinite(good) and math.isfinite(bad), (good, bad)
    assert (good > bad) if spec.higher_is_better else (good < bad), (name, good, bad)


SEQUENCE_REAL = [tuple(f"w{(7 * i + j) % 23}" for j in range(6)) for i in range(12)]
VARIED = [tuple(f"w{(5 * i + 3 * j) % 31}" for j in range(6)) for i in range(12)]
UNRELATED = [tuple(f"x{(5 * i + 3 * j) % 31}" for j in range(6)) for i in range(12)]  # no word of the real set


def _sequence_cases(name: str) -> tuple[dict, dict]:
    if name in ("distinct", "entropy", "self_bleu"):  # varied lines beat one line repeated
        return {"fake": VARIED}, {"fake": [VARIED[0]] * 12}
    if name in ("bleu", "ngram_coverage"):  # the real lines beat lines sharing no word with them
        return {"fake": list(SEQUENCE_REAL), "real": SEQUENCE_REAL}, {"fake": UNRELATED, "real": SEQUENCE_REAL}
    raise AssertionError(f"sequence metric {name!r} has no known-answer case here: add one")


@pytest.mark.parametrize("name", SEQUENCE_METRICS.names())
def test_a_sequence_metric_cites_validates_runs_and_its_direction_is_the_known_answer(name):
    spec = SEQUENCE_METRICS.get(name)
    assert cites_its_source(spec.compute), f"{name}: {inspect.getdoc(spec.compute)!r}"
    assert isinstance(spec.higher_is_better, bool) and set(spec.needs) <= {"real"}
    better, worse = _sequence_cases(name)
    for bad in ({"max_n": 0}, {"bleu_definition": NOT_A_NAME}):  # the parameters the sequence metrics share
        with pytest.raises(ConfigError) as err:
            measure_sequences(**better, metrics=[name], **bad)
        assert one_sentence(err.value), str(err.value)

    def first(out: dict) -> float:  # the metric's first key: bleu, self_bleu, distinct_1, ...
        return next(v for k, v in out.items() if k == name or k.startswith(f"{name}_"))

    good, bad = (first(measure_sequences(**case, metrics=[name])) for case in (better, worse))
    assert (good > bad) if spec.higher_is_better else (good < bad), (name, good, bad)


def test_higher_is_better_has_one_source_the_registry_specs():
    """No result or streaming class in metrics/ carries a direction of its own (they did,
    unread, beside the specs)."""
    import importlib
    import pkgutil

    import modecollapse.metrics as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"modecollapse.metrics.{info.name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                assert not hasattr(cls, "higher_is_better"), f"metrics.{info.name}.{cls_name}"


# -- evaluators ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", EVALUATORS.names())
def test_an_evaluator_cites_validates_and_runs_with_its_defaults(name):
    cls = EVALUATORS.get(name)
    assert cites_its_source(cls), f"{name}: {inspect.getdoc(cls)!r}"
    check_params_refuse_bad_values(cls.Params, f"evaluator {name!r}")
    ev = cls(cls.Params())
    ring = _ring()
    samples = ring.sample(600, gen(8))
    ctx = EvalContext(step=500, total_steps=1000, samples=samples, dataset=ring, d_loss=0.6, g_loss=0.8,
                      G=torch.nn.Identity(), D=torch.nn.Identity(), seed=0,
                      generate=lambda n, seed: ring.sample(n, gen(seed)))
    record = ev.evaluate(ctx)
    assert record and all(isinstance(k, str) for k in record)
    assert isinstance(ev.summarize([{"step": 500, **record}], {"step": 500, **record}), dict)


# -- diagnostics and scenarios ---------------------------------------------------------------------
#: parameters small enough that each experiment runs in about a second on one CPU thread (each
#: was timed at 0.2 to 3 s), so none is skipped; the experiments' own tests check their answers
TINY = {
    "batchnorm-leak": dict(steps=10, batch=32, eval_every=5, probe=8, draws=2),
    "colorization": dict(steps=20, batch=32),
    "diversity-tradeoff": dict(lambdas=[0.0], steps=10, samples=200),
    "fid-blind-spot": dict(samples=300, sweep=2),
    "game-dynamics": dict(steps=10, mixture_steps=0),
    "gradient-noise": dict(batch_sizes=[8, 16], repeats=2, mid_steps=2),
    "latent-interpolation": dict(collapsed_steps=5, healthy_steps=5, paths=2, points=3, mi_samples=50),
    "precision-recall": dict(samples=200),
    "vanishing-gradients": dict(a_values=[1.0], d_steps=5, d_width=8, batch=32, lines_steps=0),
    "diffusion-memorisation": dict(sizes=[4], steps=10, eval_every=10, samples=50, held_out=50, mnist_sizes=[],
                                   timesteps=10, batch_size=16),
    "evolution": dict(population=20, generations=5, runs=1),
    "fine-tuning": dict(pretrain_steps=5, steps=4, batch=8, kl_weights=[0.0], eval_every=2, eval_samples=20, hidden=8),
    "model-collapse": dict(samples=10, generations=2, chains=5, mixture_samples=20, mixture_generations=1,
                           mixture_chains=1, gan_samples=20, gan_generations=1, gan_first_steps=5, gan_steps=2,
                           eval_samples=50),
    "profile-search": dict(background=100, iterations=2, replicates=1, seed_family_size=50, decoys=5),
    "rl-post-training": dict(width=8, heads=1, pretrain_steps=2, steps=1, prompts_per_step=2, generations=2,
                             eval_samples=2, betas=[0.0], entropy_bonuses=[]),
    "vae": dict(data="ring", train_size=200, steps=5, z_dim=2, hidden=8, fixed_stds=[0.1], eval_size=50, samples=50),
    "self-supervised": dict(train_size=200, test_size=100, steps=2, batch_size=16, rep_dim=8, emb_dim=4, hidden=16,
                            eval_every=1, probe_steps=2, methods=["vicreg"]),
}
#: experiments that read MNIST: run only where the data is (CI has it; a bare checkout may not)
NEEDS_MNIST = {"self-supervised"}
EXPERIMENTS = [(DIAGNOSTICS, n) for n in DIAGNOSTICS.names()] + [(SCENARIOS, n) for n in SCENARIOS.names()]


@pytest.mark.parametrize("registry, name", EXPERIMENTS, ids=[f"{r.kind}:{n}" for r, n in EXPERIMENTS])
def test_an_experiment_cites_validates_and_runs_on_tiny_parameters(registry, name, tmp_path, monkeypatch):
    cls = registry.get(name)
    assert cites_its_source(cls), f"{name}: {(inspect.getdoc(cls) or '')[:200]!r}"
    check_params_refuse_bad_values(cls.Params, f"{registry.kind} {name!r}")
    assert name in TINY, f"{registry.kind} {name!r}: give it tiny parameters in TINY"
    if name in NEEDS_MNIST:
        from conftest import MNIST_DIR

        if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists() and not (MNIST_DIR / "train-images-idx3-ubyte").exists():
            pytest.skip(f"{name} reads MNIST, which is not in {MNIST_DIR}")
        monkeypatch.setenv("MODECOLLAPSE_DATA", str(MNIST_DIR))
    result = run_experiment(registry, name, tmp_path / name, params=TINY[name], seed=0, progress=False)
    assert result["name"] == name and isinstance(result["results"], dict) and result["results"]
    assert (tmp_path / name / "result.json").is_file()


# -- feature extractors ----------------------------------------------------------------------------
def random_state(module: torch.nn.Module, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random weights of ``module``'s own names and shapes, scaled so activations stay O(1)."""
    g = gen(seed)
    state = {}
    for k, v in module.state_dict().items():
        if k.endswith("num_batches_tracked"):
            state[k] = v
        elif k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=g) + 0.5
        elif k.endswith("running_mean"):
            state[k] = torch.randn(v.shape, generator=g) * 0.1
        elif v.ndim >= 2:
            state[k] = torch.randn(v.shape, generator=g) * (1.0 / max(v[0].numel(), 1)) ** 0.5
        elif k.endswith("weight"):  # the scale of a norm
            state[k] = 1.0 + torch.randn(v.shape, generator=g) * 0.1
        else:
            state[k] = torch.randn(v.shape, generator=g) * 0.02
    return state


def _weights_file(name: str, folder: Path) -> Path | None:
    """A file of random weights in the published format of extractor ``name`` (None: it takes none)."""
    if name == "inception-v3":
        from modecollapse.features.inception import WEIGHTS, FIDInceptionV3

        path, net = folder / WEIGHTS.names[0], FIDInceptionV3()
    elif name.startswith("dinov2-"):
        from modecollapse.features.dinov2 import CONFIGS, DinoViT, weight_file

        arch = name.removeprefix("dinov2-")
        path, net = folder / weight_file(arch).names[0], DinoViT(CONFIGS[arch])
    else:
        return None
    torch.save(random_state(net), path)
    return path


#: networks too large to build with random weights within this file's budget (ViT-L/14 has
#: 300 M parameters, ViT-g/14 1.1 G: a random weights file of 1.2 and 4.4 GB); their docstring
#: and parameters are checked, and they are the same code as dinov2-vits14 / -vitb14, which run
TOO_LARGE_TO_RUN = {"dinov2-vitl14", "dinov2-vitg14"}


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_an_extractor_cites_validates_and_runs_on_two_tiny_images(name, tmp_path, monkeypatch):
    factory = EXTRACTORS.get(name)
    assert cites_its_source(factory), f"{name}: {inspect.getdoc(factory)!r}"
    takes_weights = "weights" in inspect.signature(factory).parameters
    with pytest.raises(ConfigError) as err:  # a weights file that is not there, or one it takes none of
        resolve_extractor(name, weights=tmp_path / "no-such-weights.pth")
    assert one_sentence(err.value), str(err.value)
    if name in TOO_LARGE_TO_RUN:
        return
    if name.startswith("mnist"):  # the digit classifier, random instead of trained (or read from the cache)
        from modecollapse.models import classifier

        torch.manual_seed(0)
        monkeypatch.setattr(classifier, "load_or_train", lambda *a, **k: classifier.DigitCNN().eval())
    weights = _weights_file(name, tmp_path)
    assert (weights is not None) == takes_weights
    extractor = resolve_extractor(name, weights=weights)
    images = torch.rand(2, 1 if name.startswith("mnist") else 3, 28, 28, generator=gen(9))
    with torch.no_grad():
        features = extractor(images)
    assert features.ndim == 2 and len(features) == 2 and torch.isfinite(features).all()
    assert not torch.equal(features[0], features[1])  # the two images are told apart


def test_components_without_parameters_share_one_record():
    """One ``NoParams``, in registry.py, for techniques, evaluators and experiments alike."""
    from modecollapse import experiments, registry
    from modecollapse.lab import config, evaluators
    from modecollapse.techniques import base

    assert base.NoParams is evaluators.NoParams is experiments.NoParams is registry.NoParams
    assert base.Technique.Params is evaluators.Evaluator.Params is experiments.Experiment.Params is registry.NoParams
    assert not hasattr(config, "EvaluatorSpec")  # an unused alias of TechniqueSpec
