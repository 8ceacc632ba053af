"""Power-law random-feature regression trained by SGD: a real learning system with known truth.

This subpackage is ``gsf-infer simulate rf``: it builds the system, trains it, measures every
record kind and returns a table plus the truth, writing nothing. Its modules follow the
simulation's path: :mod:`.settings` (what defines a data set), :mod:`.system` (inputs, target,
random features and their kernel spectrum), :mod:`.sgd` (training, and the exact expected
loss it is tested against), :mod:`.compression` (quantization and pruning),
:mod:`.measure` (population loss, learned fractions, frontier, spectrum), :mod:`.driver`
(one simulation end to end) and :mod:`.truth` (how the system maps onto the theory). They
import NumPy, SciPy, pandas and :mod:`gsf_infer.errors`; randomness comes only from the
``numpy.random.Generator`` handed to :func:`simulate_rf`.

Notes
-----
Inputs with covariance eigenvalues ``lambda_j = j^-b``, a linear target with power
``p_j = lambda_j w_j^2 = j^-a``, ``N`` random features ``z = F x`` and a linear read-out ``v``
trained from zero by minibatch SGD on fresh samples; test losses are population losses. In the
eigenbasis of the feature covariance (the model's kernel, eigenvalues ``s_k``) the population
loss is ``|u - r|^2 + L_res(N)`` with ``u = sqrt(s) U^T v`` and the target amplitudes ``r``,
and gradient descent learns mode ``k`` as ``1 - (1 - eta s_k)^t``: the theory of Zhang, "A
Generalized Spectral Framework to Explain Neural Scaling and Compression Dynamics", with the
``ntk`` evolution function, ``rho = 1``, ``chi = (a-1)/b``, ``gamma = (1+b-a)/b`` and capacity
``K = N``. The random-feature dynamics are those studied in "Dynamics of neural scaling laws in
random feature regression with power-law distributed kernel eigenvalues" (arXiv:2602.23039).
Each module's notes give its part of the derivation; where finite width, SGD noise or one
realisation of the features departs from the theory, and which records the defaults keep
because of it, is in ``docs/decisions.md``. ``tests/test_simulate_rf.py`` checks the exact
reductions against direct computations: the loss in kernel against input coordinates, both SGD
samplers against the expected-loss recursion, quantization against Monte Carlo, pruning against
its definitions, the input tail against an explicit large input dimension.
"""

from gsf_infer.simulate.rf.compression import pruning_delta, quantization_delta
from gsf_infer.simulate.rf.driver import RFResult, simulate_rf
from gsf_infer.simulate.rf.measure import (
    learned_fraction,
    measured_frontier,
    measured_spectrum,
    population_loss,
    population_loss_direct,
)
from gsf_infer.simulate.rf.settings import (
    KINDS,
    MODES_BASES,
    PRUNING_MEASURES,
    PRUNING_METHODS,
    QUANTIZE_TARGETS,
    SAMPLERS,
    RFSettings,
)
from gsf_infer.simulate.rf.sgd import checkpoint_steps, expected_sgd_loss, run_sgd
from gsf_infer.simulate.rf.system import InputModel, RFSystem, input_distribution, make_system

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
