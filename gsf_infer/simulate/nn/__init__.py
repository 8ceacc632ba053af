r"""Small neural networks trained by SGD on the digits, measured as the theory's records.

This subpackage is ``gsf-infer simulate nn``. It trains a family of fully connected networks of
several widths on a data set that ships inside scikit-learn, measures every record kind the
theory speaks about, and returns the table, a truth file and provenance lines; it writes nothing
(the CLI hands the result to :mod:`gsf_infer.output.artifacts`). Modules, in the order the data
flows: :mod:`~gsf_infer.simulate.nn.settings` (options and their validation, standard library only),
:mod:`~gsf_infer.simulate.nn.data` (the digits, split and scaled; NumPy),
:mod:`~gsf_infer.simulate.nn.network` (the networks and their SGD training; JAX and optax),
:mod:`~gsf_infer.simulate.nn.compress` (quantization and pruning),
:mod:`~gsf_infer.simulate.nn.ntk` (the empirical NTK and the modes it defines),
:mod:`~gsf_infer.simulate.nn.experiment` (the experiment and its records) and
:mod:`~gsf_infer.simulate.nn.truth` (what is known and measured). Importing the package imports
neither JAX nor scikit-learn.

The experiment
--------------
The 1797 8x8 images of handwritten digits (Alpaydin and Kaynak 1998; scikit-learn's
``load_digits``) are split once into training and test sets; the inputs are centred and scaled
by one common factor, the targets are one-hot vectors in ``R^10``. A network of ``depth``
hidden layers of width ``N`` in the NTK parametrization
(:mod:`~gsf_infer.simulate.nn.network`) has ``P = sum_l (n_{l-1} + 1) n_l`` parameters; its
read-out starts small, so the initial function is close to zero and what the network learns is
the target itself. Each network is trained by plain SGD (``optax.sgd``: learning rate ``eta``,
minibatches drawn without replacement) on

.. math:: L = \frac{1}{n} \sum_{i=1}^{n} \sum_{c=1}^{10} \bigl(f_c(x_i) - y_{ic}\bigr)^2 ,

and measured at log-spaced steps ``t``. Every width gives ``loss`` records; the widest network
of each seed also gives ``quantization``, ``pruning``, ``spectrum`` and ``modes`` records
(``density`` on request, from every width).

Why the squared error
---------------------
The theory's loss is the squared error of the learned function expanded on orthonormal
eigenfunctions of a kernel, ``L = sum_k lambda_k w_k^2 e^(-2 g_k)``, and its compression laws
are expectations of squared errors (Zhang, eqs. 6, 15 and 20, Theorem 2). Under the squared
error, gradient descent on a network linearised about its initialisation moves each eigen-
direction of the neural tangent kernel independently: the residual along direction ``k``
decays as ``(1 - 2 eta lambda_k)^t``, the theory's learned fraction with
``g = -t log(1 - 2 eta lambda_k) ≈ 2 eta lambda_k t`` (Jacot, Gabriel and Hongler 2018; Lee et
al. 2019). Cross-entropy has no such decomposition: its gradient is the softmax residual, a
nonlinear function of all outputs, which couples the directions, and its value is not a sum of
per-mode squared residuals. With one-hot targets summed over the ten outputs, the target powers
add up to the loss of the zero function, ``sum_k p_k = 1``.

How each measurement maps onto the theory
-----------------------------------------
``spectrum`` (``k``, ``eigenvalue`` = ``lambda_k``, ``target_power`` = ``p_k``)
    ``lambda_k`` are the eigenvalues of the empirical NTK Gram matrix on ``ntk_subset``
    training images, averaged over the ten outputs and divided by the number of images
    (:mod:`~gsf_infer.simulate.nn.ntk`); ``p_k = n^-1 sum_c (u_k . y_c)^2`` is the power of the
    targets along the ``k``-th eigenvector. *Approximate*: (i) a finite subset gives the Nyström
    estimate of the kernel operator's eigenvalues (Williams and Seeger 2001), good for ``k``
    well below the subset size, so the records stop at ``k = spectrum_fraction * ntk_subset``;
    (ii) the full NTK is a ``(10 n) x (10 n)`` matrix whose blocks between different outputs
    vanish only on average over the initialisation, and averaging the diagonal blocks keeps one
    ``n x n`` kernel shared by all outputs; (iii) ``k = 1`` is left out: the leading direction is
    close to the constant function, with an eigenvalue set by the output biases and the mean of
    the features rather than by the data, far above the trend of the others; (iv) a single
    ``p_k`` is a sum of ten squared projections and scatters about any trend, so target powers
    are octave means placed at the octave's centre; (v) a network that learns features changes
    its kernel: the records use the kernel at initialisation by default (``spectrum_at``: the
    kernel whose eigenvectors define the ``modes``), and the truth file gives the power-law
    slopes of both ends. Nothing forces the spectrum to be a power law; the truth file's ``a``
    and ``b`` are least-squares slopes over the recorded range, with local slopes beside them.

``modes`` (``k``, ``t``, ``learned_fraction`` = ``phi_k(t)``)
    ``phi_k(t) = sum_c (u_k . Delta f_c)(u_k . r_c) / sum_c (u_k . r_c)^2`` on the NTK subset,
    with ``Delta f = f_t - f_0`` and ``r = y - f_0``: the fraction of the initial residual along
    the ``k``-th eigenvector of the initial kernel that has been learned. It is exactly
    ``1 - (1 - 2 eta lambda_k)^t`` for the linearised network under full-batch gradient descent
    on the subset whose kernel has equal blocks for every output and none between outputs (the
    infinite-width limit). *Approximate*: at finite width the blocks differ; training uses the
    whole training set in minibatches, whose kernel has other eigenvectors than the subset's,
    and SGD adds noise; a network that learns features rotates its kernel, so ``phi_k`` then
    measures a moving target. Values outside
    ``[mode_margin, 1 - mode_margin]`` (including overshoots above 1) are dropped and counted.

``loss`` (``t``, ``params`` = ``P``, ``loss`` = ``L(t; P)``)
    The test loss. The theory's ``E + sum_{k<=K} p_k e^(-2 g_k) + sum_{k>K} p_k`` with capacity
    ``K = kappa P^nu``. *Approximate*: the test loss also carries the gap between training and
    test error, which the law can absorb into ``E`` only where it is constant; a width-``N``
    network has no sharp count of representable modes, ``K ∝ P`` is the theory's assumption;
    and ``t`` is the SGD step, so ``g`` is in steps (``c = 2 eta`` in the lazy limit).

``quantization`` (``t``, ``bits``, ``delta_loss`` = ``dL_Q``)
    Every weight matrix rounded on its own uniform grid of ``2^bits`` levels
    (:mod:`~gsf_infer.simulate.nn.compress`); the test-loss increase (or, with
    ``measure = distance``, the mean squared change of the outputs). Rounding the hidden weights
    perturbs the features and rounding the read-out perturbs the coefficients: the theory's
    joint perturbation ``(f_k + eta_k)(phi_k + epsilon_k)`` (Zhang, eq. 9), with rounding-noise
    variance ``Delta^2 / 12 ∝ 4^-bits``. *Approximate*: (i) one rounding is one realisation, not
    the expectation the law is: the loss increase carries a term linear in the error,
    ``2 n^-1 sum_i (f(x_i) - y_i) . delta f(x_i)``, zero on average but not for one rounding,
    which dominates on fine grids and can make the increase negative (such records are dropped
    and counted in the truth file); (ii) the grid follows each tensor's largest weight, which
    grows as the read-out learns, so ``sigma^2`` is not constant in ``t`` as the law assumes;
    (iii) the law's ``sigma^2 sum_k w_k^2 phi_k^2`` takes the perturbation white across modes,
    while a weight error reaches the function through the network's Jacobian.

``pruning`` (``t``, ``sparsity`` = ``r``, ``delta_loss`` = ``dL_P``)
    In every weight matrix the fraction ``r`` of smallest magnitudes set to zero; the test-loss
    increase (or the output distance). The theory removes the modes beyond ``k_cut = (1-r) K``
    in spectral order (Zhang, eqs. 19-20). *Approximate, and the least direct mapping*:
    magnitude order in weight space is not spectral order (each weight feeds many
    eigen-directions), so the correspondence ``r -> k_cut`` is the theory's assumption, not a
    property of the measurement; ``--pruning-metric`` of ``gsf-infer fit`` chooses which
    weighting of the cut modes the fit assumes.

``density`` (``compute`` = ``C``, ``params`` = ``P``, ``density`` = ``delta``; on request)
    ``k_*(t)``, the number of directions ``k = 2..k_max`` of the network's initial kernel with
    ``phi_k(t) >= 1 - 1/e`` (the theory's frontier ``g(lambda_k, t) >= 1``, Zhang eq. 17,
    counted), per parameter: ``delta = k_* / P`` at ``C = P t``. Compute is in parameter-steps
    (the FLOPs are ``6 B`` times it) because the tool reads ``t = C / P``, and density and loss
    must share one time axis. Kept while ``1 <= k_* <= k_max / 2``. *Why not by default*: it is
    computed from the same projections as ``modes``, so a likelihood that treats records as
    independent would count one measurement twice; the count is an integer, coarse while
    ``k_*`` is small, bounded by the subset's resolution, and counts directions that carry
    little target power, whose ``phi_k`` is a ratio with a small denominator.

What is not known
-----------------
A trained network has no ground truth for ``a``, ``b``, ``rho``, ``chi`` or ``gamma``: the
truth file says so and gives instead the measured spectrum's slopes, the final losses and
accuracies, what was dropped, and every setting. In the lazy limit the learned fractions would
follow the ``ntk`` family with ``rho = 1``; how far a finite network departs from it is what
the records can tell.

References
----------
- Y. Zhang. A Generalized Spectral Framework to Explain Neural Scaling and Compression
  Dynamics (the theory: ``g``, ``rho``, ``chi + gamma = rho``).
- A. Jacot, F. Gabriel, C. Hongler. Neural tangent kernel: convergence and generalization in
  neural networks. NeurIPS 2018.
- J. Lee, L. Xiao, S. S. Schoenholz, Y. Bahri, R. Novak, J. Sohl-Dickstein, J. Pennington. Wide
  neural networks of any depth evolve as linear models under gradient descent. NeurIPS 2019.
- C. K. I. Williams, M. Seeger. Using the Nyström method to speed up kernel machines. NeurIPS
  2001.
- W. R. Bennett. Spectra of quantized signals. Bell System Technical Journal 27, 1948;
  B. Widrow, I. Kollár. Quantization Noise. Cambridge University Press, 2008.
- S. Han, H. Mao, W. J. Dally. Deep compression: compressing deep neural networks with pruning,
  trained quantization and Huffman coding. ICLR 2016.
- E. Alpaydin, C. Kaynak. Optical recognition of handwritten digits. UCI Machine Learning
  Repository, 1998.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DEFAULT_KINDS", "KINDS", "NNResult", "NNSettings", "check_settings", "simulate_nn"]

_LAZY = {
    "NNResult": "experiment",
    "simulate_nn": "experiment",
    "DEFAULT_KINDS": "settings",
    "KINDS": "settings",
    "NNSettings": "settings",
    "check_settings": "settings",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use (the settings without JAX, for the CLI)."""
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
