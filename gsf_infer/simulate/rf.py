"""Power-law random-feature regression trained by SGD: a real learning system with known truth.

This module is ``gsf-infer simulate rf`` (SPEC §7): it builds the system, trains it, measures
every record kind and returns a table plus the truth; it imports NumPy and SciPy (pandas lazily)
and :mod:`gsf_infer.errors`, and writes nothing (the CLI hands the result to
:mod:`gsf_infer.artifacts`). All randomness comes from one ``numpy.random.Generator``.

The system
----------
Inputs ``x`` with independent Gaussian coordinates of variance ``lambda_j = j^-b``; the
coordinate basis is therefore the eigenbasis of the data. Target ``f*(x) = w.x`` with
``lambda_j w_j^2 = j^-a`` (random signs), i.e. ``p_j = j^-a``. ``D = 4 max(N)`` coordinates
are explicit; the power law continues beyond ``D`` through its exact mean effect (feature
covariance ``sum_{j>D} lambda_j / N`` per feature, target power ``sum_{j>D} p_j`` no feature
sees). Without that tail channel the loss floors of a ``D = 4N`` system come out 37% low
(measured, N = 128..512); with it they agree with an explicit ``D = 128 N`` system within
1.5% (4 seeds), the omitted parts (the tail's covariance fluctuation, a Wishart surrogate of
which changed nothing, and its covariance with the target, variance ``sum_{j>D} lambda_j p_j /
N ~ 3e-13``) being negligible. Features ``z = F x`` with ``F_ij ~ N(0, 1/N)``; read-out
``v`` (``P = N`` parameters), prediction ``v.z``, trained from ``v = 0`` by minibatch SGD on
fresh samples, ``v <- v - eta (B^-1 sum_b (v.z_b - y_b) z_b + wd v)``. Test loss is the
population loss ``L = (F^T v - w)^T Lambda (F^T v - w)`` (+ tail, + label-noise variance).

Exact reductions (all checked in ``tests/test_simulate_rf.py``)
---------------------------------------------------------------
Let ``Sigma = F Lambda F^T = U diag(s) U^T`` (the kernel of the model, measured), ``v' = U^T v``
and ``u = sqrt(s) v'``, ``r = diag(s)^-1/2 U^T F Lambda w``. Then
``L = |u - r|^2 + L_res(N)`` with ``L_res = sum_j p_j - |r|^2`` the loss of the best read-out.
SGD updates depend on a batch only through ``sum_b e_b xi_b`` (``xi = diag(s)^-1/2 U^T z``,
white), whose law given ``u`` is drawn exactly at cost ``O(N)`` (:func:`run_sgd`); the
``direct`` sampler draws the ``x_b`` in ``R^D`` instead. The expected loss of SGD obeys a closed
recursion (:func:`expected_sgd_loss`) that both samplers are tested against.

Mapping onto the theory (SPEC §1)
---------------------------------
*Modes and spectrum.* The theory's modes are the kernel eigenmodes ``u_k``; ``lambda_k <-> s_k``
and ``p_k <-> r_k^2``. For ``k << N`` the kernel eigenmodes are the input coordinates and
``s_k ~ lambda_k``, ``r_k^2 ~ p_k``, but not exactly: to second order in ``F`` every other mode
pushes ``s_k`` by ``N^-1 sum_{j != k} lambda_k lambda_j / (lambda_k - lambda_j)``, which makes
``s_k ~ lambda_k (1 + c k / N)`` with ``c ~ 1``. Measured at ``N = 2048`` (6 seeds), the local
log-log slope of ``s_k`` is -1.495 +- 0.007 over ``k = 1..N/64``, -1.46 over ``N/64..N/16`` and
-1.38 over ``N/16..N/4`` (``kernel_spectrum_slopes`` in the truth), against ``-b = -1.5``;
``s_k / lambda_k`` is 1.04, 1.08, 1.14, 1.26 at ``k = N/32, N/16, N/8, N/4``. The ``spectrum``
records therefore stop at ``k = N/64``. A single ``r_k^2`` scatters like ``p_k chi^2_1`` once
near-degenerate eigenvectors mix (values of ``0.003 p_k`` occur), so ``target_power`` is given
for ``k = 1, 2, 3`` and as octave means at the octaves' centres (see
:func:`measured_spectrum`).

*Evolution.* Under gradient descent ``E u_k(t) = r_k (1 - (1 - eta s_k)^t)``, so the learned
fraction is ``1 - e^-g_k`` with ``g_k = -t log(1 - eta s_k) = eta s_k t (1 + eta s_k / 2 +
...)``: the ``ntk`` family ``g = c lambda t`` with ``c = eta``, ``m = n = 1``, hence
``rho = 1``, ``chi = (a-1)/b``, ``gamma = (1+b-a)/b``, ``k_* ~ (eta t)^(1/b)``; ``t`` is the
SGD step. The discrete-step excess of ``g`` is ``eta s_k / 2`` (+4.6% at ``k = 2`` for
``eta = 0.25``; ``k = 1`` is not recorded). Weight decay gives the ``ridge`` family,
``u_k -> r_k s_k/(s_k + wd) (1 - (1 - eta (s_k + wd))^t)``, ``kap = wd``.

*Capacity.* The model has ``K = N`` kernel modes (``params = N``, ``nu = 1``). The floor
``L_res(N)`` scales as ``N^(1-a)`` (ratios 1.68, 1.65 for doubling N against 2^0.75 = 1.68) but
is about 3x ``sum_{k>N} p_k`` (``floor_ratio`` in the truth), because modes near ``N`` are only
partly representable: with ``kappa = 1`` the floor carries ``E ~ 2 sum_{k>N} p_k > 0``
(equivalently ``K_eff ~ 0.23 N`` with ``E = 0``). Neither sharp-cutoff reading is exact near
saturation; fitting the exact forward model with ``kappa = 1`` and a free ``E`` per run leaves
log-residuals of 2-9% rms on the loss curves, with ``E = 0`` and free ``K`` 4-12%.

*What a fit should find.* Over the whole default horizon of earlier versions (every checkpoint
to ``t = 16384``, ``k_*`` up to ``N/8``; modes in the input basis), a weighted least-squares
fit of the SPEC's exact forward model (monomial ``g``, ``kappa = 1``, free ``E`` per run,
function pruning metric; ``benchmarks/bench_simulate_rf.py --fit-check 6``, seeds 0-5) gave
``rho = n/m`` = 1.001, 1.007, 0.997, 1.002, 0.999, 0.998 and ``a`` = 1.750-1.765, but ``b`` =
1.458, 1.514, 1.494, 1.491, 1.467, 1.472, and the NUTS fit of the ``gsf`` model (one ``E``,
capacity shared by every kind) ``b`` = 1.439 +- 0.008 and a loss noise scale of 0.23 (seed 0).
Three departures from the theory, each measured, caused it:

- *soft capacity*: the loss floor is about ``3 sum_{k>N} p_k`` (below), so loss curves that
  reach saturation want ``K ~ 0.23 N`` while spectral pruning, which cuts at ``(1-r) N``,
  wants ``K = N`` (fitted ``K/N`` 0.23 with the seed metric, 1.03 with the function metric);
  and the approach to the floor is smoother than a sharp cut (log-residuals up to 0.23 at
  ``N = 128`` even with ``K = 0.23 N``);
- *finite-width spectrum*: beyond ``k ~ N/64`` the kernel spectrum is shallower than
  ``k^-b`` (above), and every kind whose signal comes from modes near the frontier (loss,
  quantization, pruning) measured ``b m`` there: 1.44-1.46 instead of 1.5;
- *cross-talk*: learned fractions projected on input coordinates carry the other modes'
  contribution (below): per-mode offsets of up to 0.5 in ``logit(phi)`` that pulled ``m``.

The defaults therefore keep the records where the theory's assumptions hold: dynamics records
only while the measured frontier is below ``N/32`` (``frontier_fraction``; the spectral lift
there is <= 4% and the floor is a small part of the loss, so ``K = N`` and one ``E`` describe
it), from ``t = 8`` (``min_t``; discrete-step excess of ``g`` < 6%), compression from
``t = 64`` (frontier beyond ``k ~ 10``, so a sum over many modes), pruning cuts at
``k = N/32 .. N/512``, learned fractions in the kernel basis (the theory's modes; no
cross-talk) at ``k = 2..32``, target powers of single modes only for ``k = 1, 2``. Measured
(MAP with Laplace standard deviations of the default ``gsf`` fit, seeds 0-4): ``b`` = 1.484,
1.516, 1.500, 1.507, 1.480 (+- 0.008) and ``rho`` = 0.995, 1.006, 0.991, 0.996, 0.987
(+- 0.005); ``a`` = 1.72-1.75. What is left is the scatter of one realisation: the per-mode
target powers ``r_k^2`` (``chi^2``-like, ``r_k^2/p_k`` = 0.4-1.6 for ``k = 3..10``) and kernel
eigenvalues of one feature draw move all records of a curve together (pruning curves by up
to 0.3 in log, a mode's ``logit(phi)`` by 0.05-0.2), while the likelihood treats records as
independent; a posterior can then be narrower than the seed-to-seed scatter (about 0.015 in
``b`` and 0.007 in ``rho``) and miss the truth by two or three of its standard deviations.

*Loss.* ``L(t) = sum_{k<=N} r_k^2 (1 - eta s_k)^(2t) + L_res(N)`` (+ the SGD excess below): the
theory's exact form. Local slope at ``N = 2048`` (over three checkpoints): -0.49..-0.51 for
``t`` from 17 to 400, then flattening (-0.46, -0.44, -0.41, -0.35 from ``t`` = 431, 967, 2170,
4871) as ``k_*`` approaches ``N/8`` and the floor; ``-chi = -0.5``.

*Quantization* (default ``features``: each feature ``z_i`` rounded to ``2^bits`` levels on a
common mid-rise grid spanning ``+-clip`` standard deviations of the widest feature). With
``e_i = Q(z_i) - z_i``, ``dL = E(v.e)^2 + 2 E[(v.z - y) v.e]``. For a grid fine against every
feature's spread, Bennett's approximation holds: ``e`` is uncorrelated with everything up to
terms ``O(exp(-2 pi^2 sd_i^2 / step^2))``, so ``dL = step^2/12 |v|^2 = step^2/12 sum_k v'_k^2``
and ``v'_k = (r_k / sqrt(s_k)) phi_k ~ w_k (1 - e^-g_k)``: exactly the SPEC's unweighted law
with ``sigma^2 = step^2/12 prop. 4^-bits`` (the seed's feature noise ``epsilon_k``). The module
computes ``dL`` exactly (Gaussian integrals, Mehler series), not from this approximation.
Measured at the defaults: ``dL / (4^-bits sum_k w_k^2 phi_k^2)`` constant within +-5% over
``t`` = 17..16384; ``log_4`` of successive bit ratios -1.000 for 5..8 bits; local ``t``-slope
0.46-0.50 for ``t >= 431`` (0.53-0.65 earlier, as the exact sum does), ``gamma = 0.5``. At 4
bits and below the coarse grid has a gain (``Q(z) ~ (1 + eps) z``) and the law fails
(non-positive ``dL`` at early ``t``). Rounding the feature weights ``F`` (``feature-weights``)
has the same expectation over rounding errors, ``sigma^2 tr(Lambda) |v|^2``, but one rounding
fluctuates about it like a chi-square with ``(tr Lambda)^2 / tr(Lambda^2) ~ 6`` degrees of
freedom and adds a zero-mean cross term ``2 (F^T v - w)^T Lambda E^T v`` that dominates at
fine grids; rounding the read-out (``readout``) likewise: measured, 17 of 50 records
non-positive and no ``4^-bits`` scaling for either. They are options, documented as not
following the law.

*Pruning* (default ``spectral`` with measure ``distance``). Removing the read-out components
along the kernel eigenvectors ``k > k_cut = round((1-r) N)`` changes the function by
``E_x (f_P - f)^2 = sum_{k>k_cut} s_k v'_k^2 = sum_{k>k_cut} r_k^2 phi_k^2 ~ sum p_k
(1 - e^-g_k)^2``: the seed's eq. (20) evaluated in an orthonormal basis, which is the SPEC's
``--pruning-metric function`` with ``K = N`` (``kappa = 1``). Measured ratio to that law
(truth exponents, ``K = N``): 0.89-1.31 over all default records. The loss increase
(``--pruning-measure loss``) is ``sum r_k^2 (2 phi_k - phi_k^2) = distance + 2 sum p_k
phi_k (1 - phi_k)``: it matches only once the cut modes are learned and is linear in ``g`` on
the plateau (measured 3.5e3x the law at ``r = 0.875, t = 17``). The seed's unweighted sum
``sum w_k^2 phi_k^2`` over the cut is the squared weight-space norm of the removed read-out,
not a loss. Magnitude pruning of read-out coordinates (``magnitude``) is not spectral: the
``v_i`` are delocalised over eigenmodes, so removing the smallest acts like ``v -> (1 - e(r)) v``
plus isotropic noise (``e(r)`` the fraction of ``|v|^2`` removed): ``dL ~ e(r)^2 |f|^2 +
(tr Sigma / N) e(r)(1 - e(r)) |v|^2``, set by the Gaussian magnitude distribution, without
plateau or frontier; measured (``r`` = 0.1..0.95) 30-4e8x the function law and 3e-4-2e4x
the unweighted one, with no common trend in ``t``.

*Learned fractions* (``modes``; default basis ``kernel``, see below). Basis ``input``:
``phi_k = (F^T v)_k / w_k``.
Projected on input coordinates the learned function picks up cross-talk from the other modes
of relative size ``~ sqrt(sum_j w_j^2 (phi_j - phi_k)^2 / N) / |w_k|``; measured at
``N = 2048`` for ``k = 2..8``: ``phi - (1 - e^(-eta lambda_k t))`` has mean -0.006, sd 0.017,
max 0.04. Records are kept only if ``mode_margin <= phi <= 1 - mode_margin`` (0.05); the others
are counted in the truth's ``measured.modes`` (``dropped_within_margin``: inside (0, 1) but too
close to an end for a logit likelihood; ``dropped_outside_0_1``: noise pushed them out).
The ``kernel`` basis (``sqrt(s_k) v'_k / r_k``, the default: the theory's modes are the kernel
eigenmodes) follows ``1 - (1 - eta s_k)^t`` exactly in expectation, with ``s_k`` the measured
eigenvalue (a few percent from ``k^-b`` for one feature draw), but is noise wherever a kernel
eigenmode carries almost no target (``r_k^2`` has ``chi^2_1``-like scatter, so ``r_k ~ 0``
happens; SGD noise is then divided by a small ``r_k``). Fitted noise scale on ``logit(phi)``
at the defaults: 0.02-0.10 (kernel) against 0.13-0.19 (input, ``k = 2..8``).

*SGD noise.* To leading order ``E L_SGD / L_GD - 1 = eta tr(Sigma) / (2B)``: measured 1.1% at
``B = 32``, 0.13% at ``B = 256``, < 1e-4 at the default ``B = 16384`` (``eta = 0.25``,
``tr Sigma = 2.6``); the iteration diverges beyond ``eta ~ 2 / s_1 ~ 1.9``. The noise matters
most where the signal is smallest: in not-yet-learned modes it adds ``~ eta^2 s_k^2 L t / B``
to ``u_k^2`` against ``p_k (eta s_k t)^2``, so at ``B = 256`` the pruning plateau at
``r = 0.5`` was 660x (``t = 5``) to 8x (``t = 128``) the law, and learned fractions scatter by
``~ sqrt(eta L / 2B) / |w_k|`` (0.05-0.1 at ``B = 32``). The reduced sampler makes the batch
size free, so the default batch is large.

Defaults: ``a = 1.75, b = 1.5`` (``chi = gamma = 0.5``, ``rho/b = 2/3``), ``N = 128..2048``,
``D = 8192`` (+ tail), up to 16384 steps at ``eta = 0.25``, ``B = 16384``; each width trains
until its frontier passes ``N/32`` (``t`` = 38, 85, 192, 645, 1448 for ``N`` = 128..2048 at
seed 0). Compression, modes and spectrum are measured on the largest width. The records'
header declares ``pruning_metric: function`` (spectral pruning with the distance measure),
which ``gsf-infer fit`` uses unless ``--pruning-metric`` says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gsf_infer.errors import InputError, Problem

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KINDS",
    "QUANTIZE_TARGETS",
    "PRUNING_METHODS",
    "PRUNING_MEASURES",
    "MODES_BASES",
    "SAMPLERS",
    "InputModel",
    "RFSettings",
    "RFSystem",
    "RFResult",
    "input_distribution",
    "make_system",
    "checkpoint_steps",
    "run_sgd",
    "expected_sgd_loss",
    "population_loss",
    "population_loss_direct",
    "quantization_delta",
    "pruning_delta",
    "learned_fraction",
    "measured_frontier",
    "measured_spectrum",
    "simulate_rf",
]

#: Record kinds this simulator writes.
KINDS: tuple[str, ...] = ("loss", "quantization", "pruning", "modes", "spectrum")
#: What ``quantization`` rounds: the features z = F x (activations), the feature weights F, or
#: the read-out v.
QUANTIZE_TARGETS: tuple[str, ...] = ("features", "feature-weights", "readout")
#: How ``pruning`` removes a fraction r of the read-out.
PRUNING_METHODS: tuple[str, ...] = ("spectral", "magnitude")
#: What ``pruning`` records as ``delta_loss``.
PRUNING_MEASURES: tuple[str, ...] = ("distance", "loss")
#: Basis in which ``modes`` measures learned fractions.
MODES_BASES: tuple[str, ...] = ("input", "kernel")
#: How SGD minibatches are drawn.
SAMPLERS: tuple[str, ...] = ("reduced", "direct")

_BLOCK = 2048  # columns of F generated (and regenerated) at a time
_CHUNK = 256  # SGD steps whose random numbers are drawn at once (reduced sampler)
_MAX_BITS = 12
_HERMITE_ORDERS = (1, 3, 5, 7)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class RFSettings:
    """Everything that defines one ``simulate rf`` data set (besides the seed).

    Parameters
    ----------
    a, b : float
        Target-power and spectral exponents: ``lambda_j = j^-b``, ``lambda_j w_j^2 = j^-a``.
    dim : int or None
        Number of explicit input coordinates ``D``; ``None`` means ``4 * max(widths)``.
    input_tail : bool
        Let the power-law continue beyond ``D`` (its feature covariance ``sum_{j>D} j^-b / N``
        per feature and its target power ``sum_{j>D} j^-a``), so the system approximates
        ``D = infinity``; without it the inputs stop at ``D``.
    widths : tuple of int
        Feature counts ``N`` (one training run each); the largest carries the compression,
        mode and spectrum records.
    steps : int
        SGD steps per run.
    checkpoints : int
        Log-spaced checkpoints in ``[1, steps]`` (duplicates after rounding merged).
    lr : float
        SGD learning rate ``eta`` (per step, on the half squared error).
    batch : int
        Minibatch size (fresh samples every step).
    weight_decay : float
        L2 penalty ``wd`` added to the half squared error as ``wd/2 |v|^2``.
    label_noise : float
        Standard deviation of Gaussian noise added to training labels (and counted in the
        population loss).
    bits : tuple of int
        Bit widths of the quantizer (``2^bits`` levels).
    quantize : str
        What is rounded, one of :data:`QUANTIZE_TARGETS`.
    clip : float
        ``features`` only: the quantizer's range is ``+-clip`` standard deviations of the widest
        feature channel (a population version of absmax calibration).
    sparsities : tuple of float
        Pruned fractions ``r`` in (0, 1).
    pruning : str
        One of :data:`PRUNING_METHODS`.
    pruning_measure : str
        One of :data:`PRUNING_MEASURES`.
    compress_every : int
        Compression records at every ``compress_every``-th checkpoint with ``t >= compress_min_t``.
    compress_min_t : int
        Earliest step with compression records.
    min_t : int
        Earliest step with ``loss`` and ``modes`` records (the discrete-step excess of ``g``
        at the frontier, ``1/(2t)``, is below 6% from ``t = 8``).
    frontier_fraction : float
        Records of the dynamics (``loss`` of every width; ``quantization``, ``pruning`` and
        ``modes`` of the largest) are kept only at checkpoints where the measured frontier
        ``k_*(t)`` (the number of kernel modes with ``-t log(1 - lr s_k) >= 1``) is at most
        ``frontier_fraction * N``; SGD stops at the last kept checkpoint. ``1`` keeps every
        checkpoint.
    compress_frontier_fraction : float
        The same bound for ``quantization`` and ``pruning`` records (applied on top of
        ``frontier_fraction``): their sums weigh the modes at the frontier most, where the
        finite-width kernel spectrum departs from ``k^-b`` by ``~ k_*/N``.
    modes : tuple of int
        Mode indices ``k`` of the ``modes`` records.
    modes_basis : str
        One of :data:`MODES_BASES`.
    mode_margin : float
        A learned fraction is recorded only if ``mode_margin <= phi <= 1 - mode_margin``.
    spectrum_points : int
        Number of (log-spaced) mode indices in the ``spectrum`` records.
    spectrum_fraction : float
        Largest recorded mode index as a fraction of the largest width.
    kinds : tuple of str
        Record kinds to write (subset of :data:`KINDS`).
    sampler : str
        One of :data:`SAMPLERS`.
    """

    a: float = 1.75
    b: float = 1.5
    dim: int | None = None
    input_tail: bool = True
    widths: tuple[int, ...] = (128, 256, 512, 1024, 2048)
    steps: int = 16384
    checkpoints: int = 25
    lr: float = 0.25
    batch: int = 16384
    weight_decay: float = 0.0
    label_noise: float = 0.0
    bits: tuple[int, ...] = (5, 6, 7, 8)
    quantize: str = "features"
    clip: float = 5.0
    sparsities: tuple[float, ...] = (0.96875, 0.984375, 0.9921875, 0.99609375, 0.998046875)
    pruning: str = "spectral"
    pruning_measure: str = "distance"
    compress_every: int = 2
    compress_min_t: int = 64
    min_t: int = 8
    frontier_fraction: float = 1.0 / 32.0
    compress_frontier_fraction: float = 1.0 / 64.0
    modes: tuple[int, ...] = (2, 4, 8, 16, 32)
    modes_basis: str = "kernel"
    mode_margin: float = 0.05
    spectrum_points: int = 24
    spectrum_fraction: float = 1.0 / 64.0
    kinds: tuple[str, ...] = KINDS
    sampler: str = "reduced"

    def __post_init__(self) -> None:
        problems = _check_settings(self)
        if problems:
            raise InputError([Problem(path="simulate rf", message=m) for m in problems])

    @property
    def input_dim(self) -> int:
        """The input dimension ``D`` actually used."""
        return int(self.dim) if self.dim is not None else 4 * max(self.widths)

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON-able values (``dim`` resolved)."""
        out = asdict(self)
        out["dim"] = self.input_dim
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _check_settings(s: RFSettings) -> list[str]:
    out: list[str] = []

    def need(cond: bool, message: str) -> None:
        if not cond:
            out.append(message)

    need(_finite(s.a) and s.a > 1, f"--a must be a number > 1 (got {s.a})")
    need(_finite(s.b) and s.b > 1, f"--b must be a number > 1 (got {s.b})")
    need(len(s.widths) >= 1, "--widths needs at least one feature count")
    widths_ok = len(s.widths) >= 1 and all(_is_int(n, 8) for n in s.widths)
    need(all(_is_int(n, 8) for n in s.widths), f"--widths must be integers >= 8 ({s.widths})")
    need(len(set(s.widths)) == len(s.widths), f"--widths must not repeat ({s.widths})")
    if widths_ok and s.dim is not None:
        need(
            _is_int(s.dim, 2 * max(s.widths)),
            f"--dim must be an integer >= 2 * max(widths) = {2 * max(s.widths)} (got {s.dim})",
        )
    need(_is_int(s.steps, 8), f"--steps must be an integer >= 8 ({s.steps})")
    need(_is_int(s.checkpoints, 3), f"--checkpoints must be an integer >= 3 ({s.checkpoints})")
    need(_finite(s.lr) and s.lr > 0, f"--lr must be > 0 (got {s.lr})")
    need(_is_int(s.batch, 1), f"--batch must be an integer >= 1 ({s.batch})")
    need(
        _finite(s.weight_decay) and s.weight_decay >= 0,
        f"--weight-decay must be >= 0 (got {s.weight_decay})",
    )
    need(
        _finite(s.label_noise) and s.label_noise >= 0,
        f"--label-noise must be >= 0 (got {s.label_noise})",
    )
    need(
        all(_is_int(q, 2) and q <= _MAX_BITS for q in s.bits),
        f"--bits must be integers in [2, {_MAX_BITS}] ({s.bits})",
    )
    need(len(set(s.bits)) == len(s.bits), f"--bits must not repeat ({s.bits})")
    need(
        s.quantize in QUANTIZE_TARGETS,
        f"--quantize must be one of {', '.join(QUANTIZE_TARGETS)} (got {s.quantize!r})",
    )
    need(_finite(s.clip) and s.clip >= 1, f"--clip must be >= 1 (got {s.clip})")
    need(
        all(_finite(r) and 0 < r < 1 for r in s.sparsities),
        f"--sparsities must lie in (0, 1) ({s.sparsities})",
    )
    need(
        len(set(s.sparsities)) == len(s.sparsities),
        f"--sparsities must not repeat ({s.sparsities})",
    )
    need(
        s.pruning in PRUNING_METHODS,
        f"--pruning must be one of {', '.join(PRUNING_METHODS)} (got {s.pruning!r})",
    )
    need(
        s.pruning_measure in PRUNING_MEASURES,
        f"--pruning-measure must be one of {', '.join(PRUNING_MEASURES)} "
        f"(got {s.pruning_measure!r})",
    )
    need(
        _is_int(s.compress_every, 1),
        f"--compress-every must be an integer >= 1 ({s.compress_every})",
    )
    need(
        _is_int(s.compress_min_t, 1),
        f"--compress-min-t must be an integer >= 1 ({s.compress_min_t})",
    )
    need(_is_int(s.min_t, 1), f"--min-t must be an integer >= 1 ({s.min_t})")
    need(
        _finite(s.frontier_fraction) and 0 < s.frontier_fraction <= 1,
        f"--frontier-fraction must lie in (0, 1] (got {s.frontier_fraction})",
    )
    need(
        _finite(s.compress_frontier_fraction) and 0 < s.compress_frontier_fraction <= 1,
        f"--compress-frontier-fraction must lie in (0, 1] (got {s.compress_frontier_fraction})",
    )
    if widths_ok:
        need(
            all(_is_int(k, 1) and k <= max(s.widths) for k in s.modes),
            f"--modes must be integers in [1, max(widths)] ({s.modes})",
        )
    need(len(set(s.modes)) == len(s.modes), f"--modes must not repeat ({s.modes})")
    need(
        s.modes_basis in MODES_BASES,
        f"--modes-basis must be one of {', '.join(MODES_BASES)} (got {s.modes_basis!r})",
    )
    need(
        _finite(s.mode_margin) and 0 < s.mode_margin < 0.5,
        f"--mode-margin must lie in (0, 0.5) (got {s.mode_margin})",
    )
    need(
        _is_int(s.spectrum_points, 3),
        f"--spectrum-points must be an integer >= 3 ({s.spectrum_points})",
    )
    need(
        _finite(s.spectrum_fraction) and 0 < s.spectrum_fraction <= 1,
        f"--spectrum-fraction must lie in (0, 1] (got {s.spectrum_fraction})",
    )
    need(
        len(s.kinds) >= 1 and all(k in KINDS for k in s.kinds),
        f"--kinds must be a non-empty subset of {', '.join(KINDS)} ({s.kinds})",
    )
    need(
        s.sampler in SAMPLERS, f"--sampler must be one of {', '.join(SAMPLERS)} (got {s.sampler!r})"
    )
    return out


def _is_int(x: Any, low: int) -> bool:
    try:
        return float(x) == int(x) and int(x) >= low
    except (TypeError, ValueError, OverflowError):
        return False


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- the system


@dataclass
class RFSystem:
    """One random-feature model of width ``N`` on the shared power-law input distribution.

    Attributes
    ----------
    inputs : InputModel
        The shared input distribution and target.
    feature_seed : int
        Seed from which the columns of ``F`` are (re)generated block by block.
    width : int
        ``N``.
    cov : numpy.ndarray, shape (N, N)
        Feature covariance ``Sigma = F Lambda F^T + (tail_lambda / N) I`` (original feature
        basis).
    s : numpy.ndarray, shape (N,)
        Its eigenvalues, descending: the measured kernel spectrum.
    U : numpy.ndarray, shape (N, N)
        Its eigenvectors (columns, same order).
    r : numpy.ndarray, shape (N,)
        Target amplitude along each whitened kernel eigenmode: ``r_k = u_k^T F Lambda w /
        sqrt(s_k)``; ``r_k^2`` is the measured target power of mode ``k``.
    residual : float
        ``w^T Lambda w + tail_power - |r|^2``: the population loss of the best read-out (no
        label noise).
    f_lam_w : numpy.ndarray, shape (N,)
        ``F Lambda w`` (covariance of the features with the target).
    columns : dict of int to numpy.ndarray
        Columns ``F[:, k-1]`` kept for the mode records.
    max_abs_f : float
        ``max |F_ij|`` (the absmax scale of ``feature-weights`` quantization).
    features : numpy.ndarray or None
        The full ``F`` (N, D), kept only when asked (direct sampler).
    """

    inputs: InputModel
    feature_seed: int
    width: int
    cov: np.ndarray
    s: np.ndarray
    U: np.ndarray
    r: np.ndarray
    residual: float
    f_lam_w: np.ndarray
    columns: dict[int, np.ndarray]
    max_abs_f: float
    features: np.ndarray | None = None

    @property
    def dim(self) -> int:
        """Number of explicit input coordinates ``D``."""
        return self.inputs.dim

    @property
    def lam(self) -> np.ndarray:
        """Input eigenvalues ``lambda_j`` of the explicit coordinates."""
        return self.inputs.lam

    @property
    def w(self) -> np.ndarray:
        """Target coefficients of the explicit coordinates."""
        return self.inputs.w

    def feature_blocks(self):
        """Yield ``(start, F[:, start:stop])`` blocks, regenerated from :attr:`feature_seed`."""
        if self.features is not None:
            yield 0, self.features
            return
        yield from _feature_blocks(self.feature_seed, self.width, self.dim)

    def to_original(self, vprime: np.ndarray) -> np.ndarray:
        """Map read-outs from kernel-eigenbasis coordinates ``v'`` to feature coordinates ``v``.

        Parameters
        ----------
        vprime : numpy.ndarray, shape (..., N)

        Returns
        -------
        numpy.ndarray, shape (..., N)
        """
        return vprime @ self.U.T


def _feature_blocks(seed: int, width: int, dim: int):
    for i, start in enumerate(range(0, dim, _BLOCK)):
        stop = min(dim, start + _BLOCK)
        gen = np.random.default_rng([seed, i])
        yield start, gen.standard_normal((width, stop - start)) / math.sqrt(width)


@dataclass(frozen=True)
class InputModel:
    """The shared input distribution and target.

    Attributes
    ----------
    lam : numpy.ndarray, shape (D,)
        Eigenvalues ``lambda_j = j^-b`` of the explicit inputs (the coordinate basis is the
        eigenbasis).
    w : numpy.ndarray, shape (D,)
        Target coefficients with ``lambda_j w_j^2 = j^-a`` and random signs.
    tail_lambda : float
        ``sum_{j>D} j^-b``: input variance beyond the explicit coordinates (0 without tail).
    tail_power : float
        ``sum_{j>D} j^-a``: target power beyond them (0 without tail).
    """

    lam: np.ndarray
    w: np.ndarray
    tail_lambda: float = 0.0
    tail_power: float = 0.0

    @property
    def dim(self) -> int:
        """Number of explicit input coordinates ``D``."""
        return int(self.lam.size)


def input_distribution(settings: RFSettings, rng: np.random.Generator) -> InputModel:
    """Draw the shared input spectrum and target.

    Parameters
    ----------
    settings : RFSettings
        ``a``, ``b``, ``dim`` and ``input_tail``.
    rng : numpy.random.Generator
        Draws the signs of ``w``.

    Returns
    -------
    InputModel
    """
    from scipy.special import zeta

    dim = settings.input_dim
    j = np.arange(1, dim + 1, dtype=float)
    lam = j ** (-settings.b)
    w = np.sqrt(j ** (-settings.a) / lam) * rng.choice(np.array([-1.0, 1.0]), size=j.size)
    if not settings.input_tail:
        return InputModel(lam=lam, w=w)
    return InputModel(
        lam=lam,
        w=w,
        tail_lambda=float(zeta(settings.b, dim + 1)),
        tail_power=float(zeta(settings.a, dim + 1)),
    )


def make_system(
    inputs: InputModel,
    width: int,
    rng: np.random.Generator,
    *,
    keep_columns: Sequence[int] = (),
    keep_features: bool = False,
) -> RFSystem:
    """Draw ``F`` (entries ``N(0, 1/N)``) and measure the kernel spectrum of the features.

    Parameters
    ----------
    inputs : InputModel
        From :func:`input_distribution`.
    width : int
        ``N``.
    rng : numpy.random.Generator
        Draws the seed of ``F``.
    keep_columns : sequence of int
        Mode indices ``k`` whose columns ``F[:, k-1]`` are kept.
    keep_features : bool
        Keep the whole ``F`` in memory (needed by the direct sampler).

    Returns
    -------
    RFSystem

    Notes
    -----
    ``Sigma = F Lambda F^T + (tail_lambda / N) I``: the inputs beyond ``D`` reach the features
    through their exact mean covariance (their fluctuation about it and their covariance with
    the target are neglected; see the module notes for the measured effect).
    """
    import scipy.linalg

    lam, w = inputs.lam, inputs.w
    dim = inputs.dim
    seed = int(rng.integers(0, 2**63 - 1))
    cov = np.zeros((width, width))
    f_lam_w = np.zeros(width)
    columns: dict[int, np.ndarray] = {}
    max_abs = 0.0
    parts = []
    for start, block in _feature_blocks(seed, width, dim):
        stop = start + block.shape[1]
        scaled = block * np.sqrt(lam[start:stop])
        cov += scaled @ scaled.T
        f_lam_w += block @ (lam[start:stop] * w[start:stop])
        max_abs = max(max_abs, float(np.abs(block).max()))
        for k in keep_columns:
            if start < k <= stop:
                columns[int(k)] = block[:, k - 1 - start].copy()
        if keep_features:
            parts.append(block)
    cov = 0.5 * (cov + cov.T)
    cov[np.diag_indices(width)] += inputs.tail_lambda / width
    s, U = scipy.linalg.eigh(cov, driver="evd")
    s, U = s[::-1].copy(), U[:, ::-1].copy()
    if s[-1] <= 0:
        raise InputError(Problem("simulate rf", "feature covariance is singular; increase --dim"))
    r = (U.T @ f_lam_w) / np.sqrt(s)
    residual = float(np.sum(lam * w**2) + inputs.tail_power - np.sum(r**2))
    return RFSystem(
        inputs=inputs,
        feature_seed=seed,
        width=int(width),
        cov=cov,
        s=s,
        U=U,
        r=r,
        residual=residual,
        f_lam_w=f_lam_w,
        columns=columns,
        max_abs_f=max_abs,
        features=np.concatenate(parts, axis=1) if keep_features else None,
    )


# --------------------------------------------------------------------------- training


def checkpoint_steps(steps: int, count: int) -> np.ndarray:
    """Log-spaced integer steps in ``[1, steps]`` (duplicates merged), ascending.

    Parameters
    ----------
    steps, count : int

    Returns
    -------
    numpy.ndarray of int64
    """
    return np.unique(np.round(np.geomspace(1, steps, count)).astype(np.int64))


def run_sgd(
    system: RFSystem,
    settings: RFSettings,
    times: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Train the read-out by minibatch SGD on fresh samples from ``v = 0``.

    Parameters
    ----------
    system : RFSystem
    settings : RFSettings
        ``lr``, ``batch``, ``weight_decay``, ``label_noise``, ``sampler``.
    times : numpy.ndarray of int
        Ascending steps at which to record the read-out.
    rng : numpy.random.Generator
        All sampling noise.

    Returns
    -------
    numpy.ndarray, shape (len(times), N)
        The read-out at each checkpoint in kernel-eigenbasis coordinates ``v' = U^T v``.

    Notes
    -----
    One step, on a batch ``(x_b, y_b)``: ``v <- v - eta (1/B sum_b (v.z_b - y_b) z_b + wd v)``
    with ``z = F x``, ``x ~ N(0, Lambda)``, ``y = w.x + noise``.

    ``direct`` draws the ``x_b`` in ``R^D`` (cost ``B D N`` per step). ``reduced`` draws the
    same update from its exact law at cost ``O(N)``: in whitened kernel coordinates
    ``z' = U^T z = sqrt(s) xi`` with ``xi ~ N(0, I_N)`` and ``y = r.xi + n`` with
    ``n ~ N(0, residual + noise^2)`` independent of ``xi``; with ``u = sqrt(s) v'`` and
    ``d = u - r`` the step needs only ``G = sum_b e_b xi_b``, ``e_b = xi_b.d - n_b``. Writing
    ``xi_b = g_b d/|d| + h_b`` (``g_b ~ N(0,1)``, ``h_b ~ N(0, I - dd^T/|d|^2)``) gives
    ``G = (e.g) d/|d| + |e| P_perp zeta`` with ``zeta ~ N(0, I_N)``, exactly in law; and
    ``e.g``, ``|e|^2`` depend on the batch only through the 2x2 Wishart matrix of ``(g, n)``,
    drawn by Bartlett's decomposition. The batch size therefore costs nothing.
    """
    times = np.asarray(times, dtype=np.int64)
    out = np.empty((times.size, system.width))
    eta, batch, wd = float(settings.lr), int(settings.batch), float(settings.weight_decay)
    noise_sd = math.sqrt(max(system.residual, 0.0) + settings.label_noise**2)
    if settings.sampler == "direct":
        F = system.features
        if F is None:
            raise ValueError("the direct sampler needs make_system(..., keep_features=True)")
        sqrt_lam = np.sqrt(system.lam)
        tail_sd = math.sqrt(system.inputs.tail_lambda / system.width)
        tail_target_sd = math.sqrt(system.inputs.tail_power)
        v = np.zeros(system.width)
        step, i = 0, 0
        while i < times.size:
            while step < times[i]:
                x = rng.standard_normal((batch, system.dim)) * sqrt_lam
                z = x @ F.T + tail_sd * rng.standard_normal((batch, system.width))
                y = x @ system.w + tail_target_sd * rng.standard_normal(batch)
                if settings.label_noise > 0:
                    y = y + settings.label_noise * rng.standard_normal(batch)
                err = z @ v - y
                v = v - eta * (z.T @ err / batch + wd * v)
                step += 1
            out[i] = system.U.T @ v
            i += 1
        return out
    s, r = system.s, system.r
    decay = 1.0 - eta * wd
    u = np.zeros(system.width)
    done = 0
    for i, stop in enumerate(times):
        while done < stop:
            m = int(min(_CHUNK, stop - done))
            zeta = rng.standard_normal((m, system.width))
            s_zeta = s * zeta
            # (g.g, g.n, n.n) of two independent standard normal B-vectors (Bartlett).
            c1 = np.sqrt(rng.chisquare(batch, m))
            c2 = np.sqrt(rng.chisquare(batch - 1, m)) if batch > 1 else np.zeros(m)
            mix = rng.standard_normal(m)
            gg, gn, nn = c1 * c1, c1 * mix, mix * mix + c2 * c2
            for j in range(m):
                d = u - r
                nd2 = float(d @ d)
                nd = math.sqrt(nd2)
                eg = nd * gg[j] - noise_sd * gn[j]
                ee = nd2 * gg[j] - 2.0 * nd * noise_sd * gn[j] + noise_sd**2 * nn[j]
                beta = math.sqrt(max(ee, 0.0))
                step_vec = beta * s_zeta[j]
                if nd > 0:
                    coef = (eg - beta * float(zeta[j] @ d) / nd) / nd
                    step_vec = step_vec + coef * (s * d)
                u = (decay * u if wd else u) - (eta / batch) * step_vec
            done += m
        out[i] = u / np.sqrt(s)
    return out


def expected_sgd_loss(system: RFSystem, settings: RFSettings, times: np.ndarray) -> np.ndarray:
    """Exact expected population loss of SGD (over the sampling noise) at the given steps.

    Parameters
    ----------
    system : RFSystem
    settings : RFSettings
    times : numpy.ndarray of int
        Ascending steps.

    Returns
    -------
    numpy.ndarray, shape (len(times),)

    Notes
    -----
    With ``d = u - r`` (whitened kernel coordinates), ``A = 1 - eta wd`` and Gaussian inputs,
    the mean ``mu_k = E d_k`` and the second moments ``q_k = E d_k^2`` close exactly::

        mu_k' = (A - eta s_k) mu_k - eta wd r_k
        q_k'  = q_k [(A - eta s_k)^2 + eta^2 s_k^2 / B]
                + eta^2 s_k^2 / B (sum_j q_j + sigma_n^2)
                - 2 eta wd r_k (A - eta s_k) mu_k + (eta wd r_k)^2

    (``E[xi_k^2 (xi.d)^2] = |d|^2 + 2 d_k^2`` for Gaussian ``xi``; ``sigma_n^2`` = residual +
    label noise). The loss is ``sum_k q_k + residual + label_noise^2``. This is independent of
    the sampler and serves as its reference.
    """
    eta, batch, wd = float(settings.lr), int(settings.batch), float(settings.weight_decay)
    s, r = system.s, system.r
    A = 1.0 - eta * wd
    sig2 = max(system.residual, 0.0) + settings.label_noise**2
    mu = -r.copy()
    q = r**2
    contraction = (A - eta * s) ** 2 + eta**2 * s**2 / batch
    inject = eta**2 * s**2 / batch
    out = np.empty(len(times))
    step, i = 0, 0
    times = np.asarray(times, dtype=np.int64)
    while i < times.size:
        while step < times[i]:
            total = float(q.sum())
            q_new = q * contraction + inject * (total + sig2)
            if wd > 0:
                q_new += -2 * eta * wd * r * (A - eta * s) * mu + (eta * wd * r) ** 2
            mu = (A - eta * s) * mu - eta * wd * r
            q = q_new
            step += 1
        out[i] = float(q.sum()) + max(system.residual, 0.0) + settings.label_noise**2
        i += 1
    return out


# --------------------------------------------------------------------------- observables


def population_loss(system: RFSystem, vprime: np.ndarray, label_noise: float = 0.0) -> np.ndarray:
    """Return the population test loss ``E_x (v.Fx - w.x)^2`` (+ label-noise variance).

    Parameters
    ----------
    system : RFSystem
    vprime : numpy.ndarray, shape (..., N)
        Read-outs in kernel-eigenbasis coordinates.
    label_noise : float

    Returns
    -------
    numpy.ndarray, shape (...)
        ``|sqrt(s) v' - r|^2 + residual + label_noise^2`` (equal to
        ``(F^T v - w)^T Lambda (F^T v - w)`` plus the noise; see
        :func:`population_loss_direct`).
    """
    d = np.sqrt(system.s) * vprime - system.r
    return np.sum(d * d, axis=-1) + system.residual + label_noise**2


def population_loss_direct(system: RFSystem, v: np.ndarray) -> float:
    """Return ``(F^T v - w)^T Lambda (F^T v - w)`` (+ tail): the loss evaluated in input space.

    Parameters
    ----------
    system : RFSystem
    v : numpy.ndarray, shape (N,)
        Read-out in the original feature coordinates.

    Returns
    -------
    float
        Including the input tail: ``tail_lambda / N |v|^2 + tail_power``.
    """
    total = system.inputs.tail_lambda / system.width * float(v @ v) + system.inputs.tail_power
    for start, block in system.feature_blocks():
        stop = start + block.shape[1]
        diff = block.T @ v - system.w[start:stop]
        total += float(np.sum(system.lam[start:stop] * diff**2))
    return total


def _midrise_levels(half_range: float, bits: int) -> tuple[np.ndarray, float]:
    """Thresholds of a ``2^bits``-level mid-rise quantizer on ``[-half_range, half_range]``."""
    levels = 2**bits
    step = 2.0 * half_range / levels
    thresholds = -half_range + step * np.arange(1, levels)
    return thresholds, step


def _round_midrise(x: np.ndarray, half_range: float, bits: int) -> np.ndarray:
    levels = 2**bits
    step = 2.0 * half_range / levels
    idx = np.clip(np.floor((x + half_range) / step), 0, levels - 1)
    return -half_range + (idx + 0.5) * step


def _feature_quantizer_moments(
    sigma: np.ndarray, half_range: float, bits: int, orders: Sequence[int]
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Per-channel ``E e^2`` and Hermite coefficients ``a_n = E[e(sigma u) He_n(u)]``.

    ``e(z) = Q(z) - z`` for the mid-rise quantizer and ``z ~ N(0, sigma_i^2)``; exact closed
    forms through the normal pdf/cdf at the thresholds (summation by parts).
    """
    from scipy.special import ndtr

    thresholds, step = _midrise_levels(half_range, bits)
    q_low = -half_range + 0.5 * step
    x = thresholds[None, :] / sigma[:, None]  # (N, L-1)
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    upper = ndtr(-x)  # P(z > threshold)
    q = -half_range + (np.arange(1, thresholds.size + 1) + 0.5) * step  # level above each threshold
    q_prev = q - step
    e_q2 = q_low**2 + np.sum((q * q - q_prev * q_prev)[None, :] * upper, axis=1)
    e_zq = sigma * step * np.sum(pdf, axis=1)
    e2 = e_q2 - 2.0 * e_zq + sigma**2
    coeffs: dict[int, np.ndarray] = {}
    for n in orders:
        # sum_l q_l int_bin He_n phi = step * sum_thresholds He_{n-1}(x) phi(x)
        he = _hermite(n - 1, x)
        a_n = step * np.sum(he * pdf, axis=1)
        if n == 1:
            a_n = a_n - sigma
        coeffs[n] = a_n
    return e2, coeffs


def _hermite(n: int, x: np.ndarray) -> np.ndarray:
    """Probabilists' Hermite polynomial ``He_n(x)``."""
    h0 = np.ones_like(x)
    if n == 0:
        return h0
    h1 = x
    for k in range(1, n):
        h0, h1 = h1, x * h1 - k * h0
    return h1


def quantization_delta(
    system: RFSystem,
    vprime: np.ndarray,
    bits: int | Sequence[int],
    target: str = "features",
    clip: float = 5.0,
) -> np.ndarray:
    """Return the population loss of the quantized model minus that of the unquantized one.

    Parameters
    ----------
    system : RFSystem
    vprime : numpy.ndarray, shape (C, N)
        Read-outs (kernel-eigenbasis coordinates) at ``C`` checkpoints.
    bits : int or sequence of int
        ``2^bits`` quantization levels (mid-rise, symmetric).
    target : str
        ``features``: every feature ``z_i`` rounded on one grid spanning ``+-clip * max_i
        sd(z_i)``; ``feature-weights``: the explicit ``F`` rounded on the grid spanning
        ``+-max|F_ij|``; ``readout``: ``v`` rounded on the grid spanning ``+-max|v_i|``.
    clip : float
        See ``target``.

    Returns
    -------
    numpy.ndarray, shape (C,) or (len(bits), C)
        One row per bit width when ``bits`` is a sequence.

    Notes
    -----
    ``features``: with ``e_i = Q(z_i) - z_i`` and ``xi = v.z - y``, exactly
    ``dL = sum_i v_i^2 E e_i^2 + 2 sum_i v_i E[xi e_i] + sum_{i != j} v_i v_j E[e_i e_j]``;
    ``E[xi e_i] = Cov(xi, z_i) a_1^i / sigma_i`` (Gaussian regression on ``z_i``) and Mehler's
    expansion ``E[e_i e_j] = sum_n rho_ij^n / n! a_n^i a_n^j`` with the Hermite coefficients
    ``a_n^i = E[e_i He_n(z_i / sigma_i)]`` (odd ``n`` only, ``e`` being odd), summed to
    ``n = 7``. The expectation is over ``x``; no test sample is drawn.
    """
    single = np.ndim(bits) == 0
    bit_list = [int(bits)] if single else [int(q) for q in bits]
    vprime = np.atleast_2d(vprime)
    v = system.to_original(vprime)  # (C, N)
    out = np.empty((len(bit_list), v.shape[0]))
    if target == "features":
        sigma = np.sqrt(np.diag(system.cov))
        half = clip * float(sigma.max())
        corr = system.cov / np.outer(sigma, sigma)
        np.fill_diagonal(corr, 0.0)
        powers = {1: corr}
        corr2 = corr * corr
        for n in _HERMITE_ORDERS[1:]:
            powers[n] = powers[n - 2] * corr2
        del corr2
        resid_cov = v @ system.cov - system.f_lam_w  # Cov(xi, z), (C, N)
        for row, q in enumerate(bit_list):
            e2, coeffs = _feature_quantizer_moments(sigma, half, q, _HERMITE_ORDERS)
            delta = (v * v) @ e2
            delta += 2.0 * np.sum(v * resid_cov * (coeffs[1] / sigma), axis=1)
            for n in _HERMITE_ORDERS:
                av = v * coeffs[n]
                delta += np.sum((av @ powers[n]) * av, axis=1) / math.factorial(n)
            out[row] = delta
    elif target == "readout":
        sq = np.sqrt(system.s)
        u_minus_r = sq * vprime - system.r
        for row, q in enumerate(bit_list):
            for c in range(v.shape[0]):
                half = float(np.abs(v[c]).max())
                if half == 0:
                    out[row, c] = 0.0
                    continue
                err = system.U.T @ (_round_midrise(v[c], half, q) - v[c])
                out[row, c] = float(np.sum(system.s * err**2) + 2 * np.sum(sq * err * u_minus_r[c]))
    elif target == "feature-weights":
        out[:] = 0.0
        half = system.max_abs_f
        for start, block in system.feature_blocks():
            stop = start + block.shape[1]
            lam = system.lam[start:stop]
            resid = v @ block - system.w[start:stop]
            for row, q in enumerate(bit_list):
                pert = v @ (_round_midrise(block, half, q) - block)
                out[row] += np.sum(lam * (2 * resid * pert + pert * pert), axis=1)
    else:
        raise ValueError(f"unknown quantization target {target!r}")
    return out[0] if single else out


def pruning_delta(
    system: RFSystem,
    vprime: np.ndarray,
    sparsity: float,
    method: str = "spectral",
    measure: str = "distance",
) -> np.ndarray:
    """Effect of removing a fraction ``sparsity`` of the read-out.

    Parameters
    ----------
    system : RFSystem
    vprime : numpy.ndarray, shape (C, N)
    sparsity : float
        Fraction ``r`` removed.
    method : str
        ``spectral``: drop the components along the kernel eigenvectors ``k > k_cut =
        round((1 - r) N)``; ``magnitude``: zero the ``round(r N)`` read-out coordinates of
        smallest ``|v_i|``.
    measure : str
        ``distance``: ``E_x (f_P(x) - f(x))^2`` (seed eq. 20); ``loss``: ``L(f_P) - L(f)``.

    Returns
    -------
    numpy.ndarray, shape (C,)
    """
    vprime = np.atleast_2d(vprime)
    sq = np.sqrt(system.s)
    n = system.width
    if method == "spectral":
        k_cut = int(round((1.0 - sparsity) * n))
        u = sq[k_cut:] * vprime[:, k_cut:]
        if measure == "distance":
            return np.sum(u * u, axis=1)
        return np.sum(u * (2 * system.r[k_cut:] - u), axis=1)
    if method == "magnitude":
        v = system.to_original(vprime)
        m = int(round(sparsity * n))
        out = np.empty(v.shape[0])
        for c in range(v.shape[0]):
            removed = np.zeros(n)
            idx = np.argsort(np.abs(v[c]), kind="stable")[:m]
            removed[idx] = v[c, idx]
            rp = system.U.T @ removed
            dist = float(np.sum(system.s * rp**2))
            if measure == "distance":
                out[c] = dist
            else:
                out[c] = dist - 2 * float(np.sum(sq * rp * (sq * vprime[c] - system.r)))
        return out
    raise ValueError(f"unknown pruning method {method!r}")


def learned_fraction(
    system: RFSystem, vprime: np.ndarray, ks: Sequence[int], basis: str = "input"
) -> np.ndarray:
    """Learned fraction ``phi_k`` of mode ``k``.

    Parameters
    ----------
    system : RFSystem
        Must hold the columns ``F[:, k-1]`` (``make_system(keep_columns=ks)``) for ``input``.
    vprime : numpy.ndarray, shape (C, N)
    ks : sequence of int
    basis : str
        ``input``: ``(F^T v)_k / w_k``, the learned function projected on input eigenmode
        ``k``; ``kernel``: ``sqrt(s_k) v'_k / r_k``, along the ``k``-th kernel eigenmode.

    Returns
    -------
    numpy.ndarray, shape (C, len(ks))
    """
    vprime = np.atleast_2d(vprime)
    if basis == "input":
        v = system.to_original(vprime)
        cols = np.stack([system.columns[int(k)] for k in ks], axis=1)
        wk = system.w[np.asarray(ks) - 1]
        return (v @ cols) / wk
    if basis == "kernel":
        idx = np.asarray(ks) - 1
        return np.sqrt(system.s[idx]) * vprime[:, idx] / system.r[idx]
    raise ValueError(f"unknown modes basis {basis!r}")


def measured_frontier(system: RFSystem, lr: float, times: np.ndarray) -> np.ndarray:
    """Measured learning frontier ``k_*(t)`` of gradient descent on the kernel spectrum.

    Parameters
    ----------
    system : RFSystem
    lr : float
        Learning rate ``eta``.
    times : numpy.ndarray of int
        Steps.

    Returns
    -------
    numpy.ndarray of int
        The number of kernel modes with ``g_k(t) = -t log(1 - eta s_k) >= 1`` (the modes more
        than ``1 - 1/e`` learned under gradient descent), at each step.
    """
    rate = -np.log1p(-np.minimum(lr * system.s, 1.0 - 1e-12))  # g_k per step, descending
    return np.searchsorted(-rate, -1.0 / np.asarray(times, dtype=float), side="right")


def measured_spectrum(
    system: RFSystem, points: int, k_max: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kernel eigenvalues at log-spaced ``k`` and the target power on octave bins.

    Parameters
    ----------
    system : RFSystem
    points : int
        Wanted number of indices (fewer after rounding duplicates away).
    k_max : int
        Largest index.

    Returns
    -------
    k : numpy.ndarray of int
    eigenvalue : numpy.ndarray
        ``s_k``.
    target_power : numpy.ndarray
        NaN except at ``k = 1, 2`` (``r_k^2`` of one mode) and at the integer geometric centre
        of each octave ``[2^i, 2^(i+1))``, ``i >= 2``, lying inside ``[1, k_max]`` (the mean of
        ``r_j^2`` over the octave). Every kernel mode picks up target from the others through the
        random features (cross-talk of variance ``~ sum_j lambda_j p_j / N``), and beyond the first
        few modes neighbouring eigenvalues are closer than their finite-``N`` fluctuations, the
        eigenvectors mix, and a single ``r_j^2`` scatters like ``p_j chi^2_1`` (measured at
        ``N = 2048``, six realisations: ``r_k^2 / p_k`` from 0.44 to 1.6 for ``k = 3..10``,
        0.55 at ``k = 3`` in one, 0.76-1.02 at ``k = 2``; values of 0.003 ``p_j`` occur further
        out), so only ``k = 1, 2`` and octave means are reported; they
        differ from ``p`` at the centre by a few percent (-6% for ``[4, 8)`` at ``a = 1.75``),
        far below their scatter.
    """
    ks = np.unique(np.round(np.geomspace(1, k_max, points)).astype(np.int64))
    power_at = {k: float(system.r[k - 1] ** 2) for k in (1, 2) if k <= k_max}
    lo = 4
    while 2 * lo - 1 <= k_max:
        hi = 2 * lo
        centre = int(round(math.sqrt(lo * (hi - 1))))
        power_at[centre] = float(np.mean(system.r[lo - 1 : hi - 1] ** 2))
        lo = hi
    ks = np.union1d(ks, np.array(sorted(power_at), dtype=np.int64))
    power = np.array([power_at.get(int(k), np.nan) for k in ks])
    return ks, system.s[ks - 1], power


# --------------------------------------------------------------------------- the data set


@dataclass
class RFResult:
    """Output of :func:`simulate_rf`.

    Attributes
    ----------
    frame : pandas.DataFrame
        The records (SPEC §3 columns).
    truth : dict
        Known truth and every setting (the content of ``truth.json``).
    provenance : dict of str to str
        One-line facts for the table's ``# key: value`` header.
    """

    frame: pd.DataFrame
    truth: dict[str, Any]
    provenance: dict[str, str] = field(default_factory=dict)


def simulate_rf(settings: RFSettings, rng: np.random.Generator) -> RFResult:
    """Train random-feature models by SGD and measure every record kind.

    Parameters
    ----------
    settings : RFSettings
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    RFResult
    """
    import pandas as pd
    from scipy.special import zeta

    widths = sorted(int(n) for n in settings.widths)
    n_max = widths[-1]
    gen_target, *gens = rng.spawn(1 + 2 * len(widths))
    inputs = input_distribution(settings, gen_target)
    times = checkpoint_steps(settings.steps, settings.checkpoints)
    direct = settings.sampler == "direct"
    rows: list[dict[str, Any]] = []
    measured: dict[str, Any] = {"widths": {}}
    for i, n in enumerate(widths):
        biggest = n == n_max
        system = make_system(
            inputs,
            n,
            gens[2 * i],
            keep_columns=settings.modes if biggest else (),
            keep_features=direct,
        )
        frontier = measured_frontier(system, settings.lr, times)
        run_times = times[frontier <= settings.frontier_fraction * n]
        vprimes = run_sgd(system, settings, run_times, gens[2 * i + 1])
        run = f"rf_N{n}"
        losses = population_loss(system, vprimes, settings.label_noise)
        tail_sum = float(zeta(settings.a, n + 1))
        floor_ratio = system.residual / tail_sum
        measured["widths"][run] = {
            "residual_loss": system.residual,
            "sum_p_beyond_N": tail_sum,
            "floor_ratio": floor_ratio,
            "effective_K_over_N": floor_ratio ** (-1.0 / (settings.a - 1.0)),
            "last_step": int(run_times[-1]) if run_times.size else 0,
            "frontier_at_last_step": int(frontier[run_times.size - 1]) if run_times.size else 0,
            "checkpoints_beyond_frontier_fraction": int(times.size - run_times.size),
            "final_loss": float(losses[-1]) if run_times.size else None,
        }
        early = run_times >= settings.min_t
        if "loss" in settings.kinds:
            rows += [
                {"kind": "loss", "run": run, "t": int(t), "params": n, "loss": float(l_)}
                for t, l_ in zip(run_times[early], losses[early], strict=True)
            ]
        if not biggest:
            continue
        lift, local = {}, {}
        for frac in (64, 32, 16, 8, 4):
            k = n // frac
            if k >= 1:
                lift[f"N/{frac}"] = float(system.s[k - 1] * k**settings.b)
        for lo, hi in ((1, n // 64), (n // 64, n // 16), (n // 16, n // 4)):
            if hi - lo >= 3:
                ks = np.arange(lo, hi + 1)
                fit = np.polyfit(np.log(ks), np.log(system.s[ks - 1]), 1)[0]
                local[f"k={lo}..{hi}"] = float(fit)
        measured["spectral_lift_s_over_lambda"] = lift
        measured["kernel_spectrum_slopes"] = local
        ctimes_idx = _compression_indices(run_times, frontier[: run_times.size], settings, n)
        if "quantization" in settings.kinds:
            dls = quantization_delta(
                system, vprimes[ctimes_idx], settings.bits, settings.quantize, settings.clip
            )
            for q, dl in zip(settings.bits, dls, strict=True):
                rows += _positive_rows(
                    measured,
                    "quantization",
                    [
                        {
                            "kind": "quantization",
                            "run": run,
                            "t": int(run_times[c]),
                            "params": n,
                            "bits": int(q),
                            "delta_loss": float(d),
                        }
                        for c, d in zip(ctimes_idx, dl, strict=True)
                    ],
                )
        if "pruning" in settings.kinds:
            for sp in settings.sparsities:
                dl = pruning_delta(
                    system,
                    vprimes[ctimes_idx],
                    float(sp),
                    settings.pruning,
                    settings.pruning_measure,
                )
                rows += _positive_rows(
                    measured,
                    "pruning",
                    [
                        {
                            "kind": "pruning",
                            "run": run,
                            "t": int(run_times[c]),
                            "params": n,
                            "sparsity": float(sp),
                            "delta_loss": float(d),
                        }
                        for c, d in zip(ctimes_idx, dl, strict=True)
                    ],
                )
        if "modes" in settings.kinds:
            phi = learned_fraction(system, vprimes, settings.modes, settings.modes_basis)
            margin = settings.mode_margin
            kept = dropped_out = dropped_margin = 0
            for c, t in enumerate(run_times):
                if t < settings.min_t:
                    continue
                for j, k in enumerate(settings.modes):
                    value = float(phi[c, j])
                    if margin <= value <= 1 - margin:
                        rows.append(
                            {
                                "kind": "modes",
                                "run": run,
                                "t": int(t),
                                "params": n,
                                "k": int(k),
                                "learned_fraction": value,
                            }
                        )
                        kept += 1
                    elif 0 < value < 1:
                        dropped_margin += 1
                    else:
                        dropped_out += 1
            measured["modes"] = {
                "kept": kept,
                "dropped_within_margin": dropped_margin,
                "dropped_outside_0_1": dropped_out,
            }
        if "spectrum" in settings.kinds:
            k_max = min(n, max(8, int(n * settings.spectrum_fraction)))
            ks, ev, tp = measured_spectrum(system, settings.spectrum_points, k_max)
            for k, e, p in zip(ks, ev, tp, strict=True):
                row = {"kind": "spectrum", "run": run, "params": n, "k": int(k)}
                row["eigenvalue"] = float(e)
                if np.isfinite(p):
                    row["target_power"] = float(p)
                rows.append(row)
    columns = [
        "kind",
        "run",
        "t",
        "params",
        "loss",
        "delta_loss",
        "bits",
        "sparsity",
        "k",
        "eigenvalue",
        "target_power",
        "learned_fraction",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.dropna(axis=1, how="all")
    for col in ("t", "params", "bits", "k"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    truth = _truth(settings, measured)
    provenance = {
        "source": "gsf-infer simulate rf (power-law random-feature regression trained by SGD)",
        "truth": f"a={settings.a}, b={settings.b}, rho=1 (m=n=1), chi={truth['chi']:.6g}, "
        f"gamma={truth['gamma']:.6g}",
        "quantization": settings.quantize,
        "pruning": f"{settings.pruning} ({settings.pruning_measure}); metric: "
        f"{truth['pruning_metric']}",
        "modes_basis": settings.modes_basis,
    }
    if truth["pruning_metric"] in ("seed", "function") and "pruning" in settings.kinds:
        # read by `gsf-infer fit` to choose its --pruning-metric (see gsf_infer.workflow)
        provenance["pruning_metric"] = truth["pruning_metric"]
    return RFResult(frame=frame, truth=truth, provenance=provenance)


def _compression_indices(
    times: np.ndarray, frontier: np.ndarray, settings: RFSettings, width: int
) -> np.ndarray:
    ok = (times >= settings.compress_min_t) & (
        frontier <= settings.compress_frontier_fraction * width
    )
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return idx
    picked = idx[:: int(settings.compress_every)]
    if picked[-1] != idx[-1]:
        picked = np.append(picked, idx[-1])
    return picked


def _positive_rows(measured: dict[str, Any], kind: str, rows: list[dict]) -> list[dict]:
    kept = [r for r in rows if r["delta_loss"] > 0 and math.isfinite(r["delta_loss"])]
    stats = measured.setdefault(kind, {"kept": 0, "dropped_nonpositive": 0})
    stats["kept"] += len(kept)
    stats["dropped_nonpositive"] += len(rows) - len(kept)
    return kept


def _truth(settings: RFSettings, measured: dict[str, Any]) -> dict[str, Any]:
    a, b = float(settings.a), float(settings.b)
    if settings.pruning == "spectral" and settings.pruning_measure == "distance":
        metric = "function"
    elif settings.pruning == "spectral":
        metric = "none (loss increase: sum p_k (1 - e^-2g_k), function metric only once learned)"
    else:
        metric = "none (magnitude pruning follows neither law)"
    quant_law = settings.quantize == "features" and min(settings.bits) >= 5
    return {
        "simulator": "rf",
        "a": a,
        "b": b,
        "rho": 1.0,
        "m": 1.0,
        "n": 1.0,
        "chi": (a - 1.0) / b,
        "gamma": max(0.0, (1.0 + b - a) / b),
        "rho_over_b": 1.0 / b,
        "nu": 1.0,
        "kappa_pruning": 1.0,
        "g": "ridge" if settings.weight_decay > 0 else "ntk",
        "c": float(settings.lr),
        "kap": float(settings.weight_decay),
        "Lam": 1.0,
        "A": 1.0,
        "pruning_metric": metric,
        "quantization_target": settings.quantize,
        "quantization_follows_law": bool(quant_law),
        "settings": settings.as_dict(),
        "measured": measured,
        "notes": [
            "rho = 1: linear model under gradient descent, g_k = -t log(1 - lr s_k) ~ "
            "lr lambda_k t (m = n = 1); with weight decay the ridge family, kap = weight_decay.",
            "Capacity: K = N kernel modes (params = N, nu = 1); spectral pruning cuts at "
            "k_cut = round((1 - r) N), i.e. kappa = 1. The loss floor is larger than "
            "sum_{k>N} p_k (measured floor_ratio): modes near N are only partly representable, "
            "so with kappa = 1 the floor needs E > 0 (or an effective K = effective_K_over_N * N "
            "with E = 0).",
            "pruning delta_loss (spectral, distance) = E_x (f_P - f)^2 (seed eq. 20) follows the "
            "function metric sum p_k (1 - e^-g_k)^2, not the seed's unweighted one.",
            "quantization rounds the features z = F x (activations): delta_loss = sigma_e^2 |v|^2, "
            "the seed's unweighted sum w_k^2 (1 - e^-g_k)^2, sigma_e^2 proportional to 4^-bits "
            "for bits >= 5.",
        ],
    }
