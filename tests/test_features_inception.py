"""The inception-v3 extractor against torch-fidelity's FeatureExtractorInceptionV3 (the pip
package, loaded as tests/reference_impls.py says), both holding the same RANDOM weights
saved in torch-fidelity's own file format; and FID, KID and IS on those features against
torch-fidelity's own metric functions. The network is the real one (about 5.7 GFLOPs an
image), so the tests use few images; FID is compared on the 192-channel tap because
torch-fidelity's eigvals of a 2048 x 2048 product alone take 20 CPU-seconds (on 2048-d random
features the two FIDs differ by 1.2e-7 relative, measured by hand)."""
from __future__ import annotations

import pytest
import torch

from modecollapse.features import extract_outputs, resolve_extractor
from modecollapse.features.images import resize_bilinear_tf1, to_uint8
from modecollapse.features.inception import OUTPUTS
from modecollapse.metrics import isc, kid
from modecollapse.metrics.fid import fid
from reference_impls import random_inception_state, torch_fidelity


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(random_inception_state(), path)
    return path


@pytest.fixture(scope="module")
def images():
    """6 'real' and 6 'fake' random uint8 images, 3 x 21 x 27 (not square: both resize axes differ)."""
    g = torch.Generator().manual_seed(5)
    return torch.randint(0, 256, (12, 3, 21, 27), dtype=torch.uint8, generator=g)


@pytest.fixture(scope="module")
def ours(weights_file, images):
    ext = resolve_extractor("inception-v3", weights=weights_file)
    return extract_outputs(images, ext, outputs=OUTPUTS, batch_size=8)


def test_outputs_equal_torch_fidelity(weights_file, images, ours):
    tf = torch_fidelity()
    names = ["2048", "logits", "logits_unbiased", "64", "192", "768"]
    ref = tf.FeatureExtractorInceptionV3("inception-v3-compat", names, feature_extractor_weights_path=str(weights_file))
    with torch.no_grad():
        theirs = dict(zip(names, ref(images[:3])))
    for ours_name, their_name in zip(OUTPUTS, names):
        a, b = ours[ours_name][:3], theirs[their_name]
        assert a.shape == b.shape
        rel = float((a - b).abs().max() / b.abs().max())
        assert rel < 1e-4, (ours_name, rel)
    # the random network is not degenerate: different images give different features
    assert float(ours["features"][:6].std(0).mean()) > 1e-3 * float(ours["features"].abs().mean())


def test_fid_kid_isc_equal_torch_fidelity(ours):
    tf = torch_fidelity()
    tap_r, tap_f = ours["192"][:6].double(), ours["192"][6:].double()
    st_r = tf.fid_features_to_statistics(tap_r)
    st_f = tf.fid_features_to_statistics(tap_f)
    theirs = tf.fid_statistics_to_metric(st_r, st_f, verbose=False)["frechet_inception_distance"]
    mine = fid(real=tap_r, fake=tap_f).fid
    assert mine == pytest.approx(theirs, rel=1e-5)
    real, fake = ours["features"][:6].double(), ours["features"][6:].double()
    # KID: subsets of the whole set on both sides, so both draw the same samples in another order
    k_theirs = tf.kid_features_to_metric(real, fake, kid_subsets=3, kid_subset_size=6, kid_kernel="poly",
                                         kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                         kid_kernel_poly_coef0=1, rng_seed=0, verbose=False)
    k_mine = kid(real=real, fake=fake, subsets=3, subset_size=6)
    assert k_mine.kid == pytest.approx(k_theirs["kernel_inception_distance_mean"], rel=1e-5)
    logits = ours["logits_unbiased"]
    i_theirs = tf.isc_features_to_metric(logits, splits=3, shuffle=True, rng_seed=2020)
    i_mine = isc(logits=logits, splits=3, seed=2020)
    assert i_mine.isc == pytest.approx(i_theirs["inception_score_mean"], rel=1e-5)
    assert i_mine.isc_std == pytest.approx(i_theirs["inception_score_std"], rel=1e-5)
    assert i_mine.isc > 1.0001  # the random head is not uniform, so the test can see a difference


def test_float_images_are_quantised_like_png(weights_file, images, ours):
    """[0, 1] floats give the features of the uint8 image a PNG of them would hold."""
    ext = resolve_extractor("inception-v3", weights=weights_file)
    x = images[:1].float() / 255 + 0.4 / 255  # within half a level of the 8-bit values
    assert torch.equal(ext(x), ours["features"][:1])
    assert torch.equal(to_uint8(images[:2].float() / 255), images[:2])


def test_tf1_resize_equals_torch_fidelity():
    resize = torch_fidelity().interpolate_bilinear_2d_like_tensorflow1x  # pure torch
    g = torch.Generator().manual_seed(0)
    for h, w, size in [(32, 32, 299), (21, 27, 299), (512, 400, 299), (64, 64, 224)]:
        x = torch.rand(2, 3, h, w, generator=g) * 255
        ref = resize(x, size=(size, size), align_corners=False)
        assert torch.allclose(resize_bilinear_tf1(x, size), ref, rtol=0, atol=1e-4), (h, w)


def test_bad_images_get_one_sentence(weights_file):
    from modecollapse.errors import ConfigError

    ext = resolve_extractor("inception-v3", weights=weights_file)
    with pytest.raises(ConfigError, match=r"\(x \+ 1\) / 2"):
        ext(torch.rand(1, 3, 8, 8) * 2 - 1)
    with pytest.raises(ConfigError, match="takes images"):
        ext(torch.rand(1, 4, 8, 8))


def test_grayscale_is_repeated_to_rgb():
    g = torch.randint(0, 256, (2, 1, 10, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(to_uint8(g), g.expand(-1, 3, -1, -1))
    assert torch.equal(to_uint8(g.float() / 255), g.expand(-1, 3, -1, -1))
