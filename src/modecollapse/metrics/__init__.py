"""Collapse-aware metrics: pure functions on named tensors returning frozen dataclasses."""
from .birthday import BirthdayResult, birthday, support_estimate
from .classifier_modes import ClassifierModes
from .density_coverage import DensityCoverage, density_coverage
from .fid import FIDResult, GaussianMoments, StreamingFID, fid, frechet_distance, trace_sqrt_product
from .isc import ISCResult, isc
from .kid import KIDResult, StreamingKID, kid
from .knn import cross_neighbourhoods, knn_sqdist
from .memorisation import MemorisationResult, memorisation
from .modes import ModeStats, mode_stats, reverse_kl_from_counts
from .mutual_info import MutualInfoResult, mutual_information
from .ndb import NDBResult, ndb
from .prdc import PRDC, StreamingPRDC, prdc
from .precision_recall import PrecisionRecall, precision_recall
from .reference import ReferenceStats
from .vendi import StreamingVendi, VendiResult, vendi

__all__ = [
    "BirthdayResult", "ClassifierModes", "DensityCoverage", "FIDResult", "GaussianMoments", "KIDResult",
    "MemorisationResult", "ModeStats", "MutualInfoResult", "NDBResult", "PRDC", "PrecisionRecall",
    "ReferenceStats", "StreamingFID", "StreamingKID", "StreamingPRDC", "StreamingVendi", "VendiResult", "birthday",
    "cross_neighbourhoods", "density_coverage", "fid", "frechet_distance", "kid", "knn_sqdist", "memorisation", "mode_stats",
    "mutual_information", "ndb", "prdc", "precision_recall", "reverse_kl_from_counts", "support_estimate",
    "trace_sqrt_product", "vendi",
]
__all__ += ["ISCResult", "isc"]
