"""Identification: a table of cases, and every combination of kinds against a Jacobian rank test."""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gsf_infer.analysis.identify import (
    INVARIANT_REQUIREMENTS,
    NAMED_PARAMETERS,
    OTHER_PARAMETERS,
    identify,
    identify_kinds,
)
from gsf_infer.data import schema
from gsf_infer.data.records import read_records

DATA = Path(__file__).parent / "data"
LOSS, QUANT, FRONTIER, B = INVARIANT_REQUIREMENTS

# kinds, loss sizes, target power -> parameters constrained (the rest: prior only), missing
CASES = [
    ({"loss"}, 1, False, {"chi"}, (QUANT, FRONTIER, B)),
    ({"loss"}, 3, False, {"chi", "a", "rho_over_b"}, (QUANT, FRONTIER, B)),
    ({"quantization"}, 1, False, {"gamma"}, (LOSS, FRONTIER, B)),
    ({"pruning"}, 1, False, {"rho_over_b", "gamma"}, (LOSS, QUANT, B)),
    ({"density"}, 1, False, {"rho_over_b"}, (LOSS, QUANT, B)),
    ({"spectrum"}, 1, False, {"b"}, (LOSS, QUANT, FRONTIER)),
    ({"spectrum"}, 1, True, {"a", "b"}, (LOSS, QUANT, FRONTIER)),
    ({"modes"}, 1, False, {"rho_over_b"}, (LOSS, QUANT, FRONTIER, B)),
    ({"modes", "spectrum"}, 1, False, {"b", "rho", "rho_over_b"}, (LOSS, QUANT, FRONTIER)),
    ({"data_scaling"}, 1, False, set(), (LOSS, QUANT, FRONTIER, B)),
    (set(), 0, False, set(), (LOSS, QUANT, FRONTIER, B)),
    ({"loss", "quantization"}, 1, False, {"chi", "gamma", "rho"}, (FRONTIER, B)),
    ({"loss", "pruning"}, 1, False, set(NAMED_PARAMETERS), (QUANT, B)),
    ({"loss", "pruning"}, 2, False, set(NAMED_PARAMETERS), (QUANT,)),
    ({"loss", "quantization", "pruning"}, 1, False, set(NAMED_PARAMETERS), (B,)),
    ({"loss", "quantization", "pruning"}, 2, False, set(NAMED_PARAMETERS), ()),
    ({"loss", "quantization", "density", "spectrum"}, 1, False, set(NAMED_PARAMETERS), ()),
    ({"loss", "quantization", "pruning", "spectrum"}, 1, False, set(NAMED_PARAMETERS), ()),
    ({"loss", "quantization", "modes"}, 1, False, set(NAMED_PARAMETERS), (FRONTIER, B)),
    ({"loss", "quantization", "density"}, 2, False, set(NAMED_PARAMETERS), (B,)),
    (set(schema.KINDS), 2, True, set(NAMED_PARAMETERS), ()),
]


@pytest.mark.parametrize(
    ("kinds", "sizes", "target_power", "constrained", "missing"),
    CASES,
    ids=[f"{'+'.join(sorted(c[0])) or 'none'}-{c[1]}sizes-tp{int(c[2])}" for c in CASES],
)
def test_cases(kinds, sizes, target_power, constrained, missing) -> None:
    ident = identify_kinds(kinds, loss_sizes=sizes, target_power=target_power)
    assert set(ident.constrained) == set(NAMED_PARAMETERS)
    assert {p for p, by in ident.constrained.items() if by} == constrained
    assert ident.missing == missing
    assert ident.invariant_testable == (not missing)
    for by in ident.constrained.values():
        assert set(by) <= kinds


def test_loss_only_names_quantization_and_a_frontier_kind() -> None:
    ident = identify_kinds({"loss"}, loss_sizes=5)
    assert not ident.invariant_testable
    assert "quantization" in ident.missing
    assert any("pruning" in m and "density" in m for m in ident.missing)


def test_attribution_does_not_run_round_a_cycle() -> None:
    # b comes from the spectrum alone; loss (a, chi) only combines with it into 1+b-a, rho, ...
    ident = identify_kinds({"loss", "spectrum"}, loss_sizes=2)
    assert ident.constrained["b"] == ("spectrum",)
    assert ident.constrained["a"] == ("loss",)
    assert ident.constrained["rho"] == ("loss", "spectrum")
    assert ident.routes["rho"] == (("loss", "spectrum"),)
    assert ident.routes["b"] == (("spectrum",),)


def test_b_from_pruning_slope_plus_loss_floor() -> None:
    ident = identify_kinds({"loss", "pruning"}, loss_sizes=2)
    assert ("loss", "pruning") in ident.routes["b"]
    assert ident.invariant_testable is False  # quantization still missing
    assert ident.missing == ("quantization",)


def test_modes_give_rho_once_b_is_known() -> None:
    alone = identify_kinds({"modes"})
    assert alone.others["n"] == ("modes",)
    assert alone.others["m"] == ()
    assert alone.constrained["rho"] == ()
    assert alone.constrained["rho_over_b"] == ("modes",)
    both = identify_kinds({"modes", "spectrum"})
    assert both.constrained["rho"] == ("spectrum", "modes")
    assert both.others["m"] == ("spectrum", "modes")


def test_data_scaling_gives_alpha_and_s_with_b() -> None:
    assert identify_kinds({"data_scaling"}).others["alpha"] == ("data_scaling",)
    assert identify_kinds({"data_scaling"}).others["s"] == ()
    assert identify_kinds({"data_scaling", "spectrum"}).others["s"] == ("spectrum", "data_scaling")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        identify_kinds({"loss", "lossy"})


def test_identify_reads_sizes_and_target_power_from_records() -> None:
    ident = identify(read_records(DATA / "all_kinds.csv"))
    assert ident.loss_sizes == 2
    assert ident.target_power is True
    assert ident.invariant_testable
    assert ident.kinds == schema.KINDS
    single = identify(read_records(DATA / "loss_only.csv"))
    assert single.loss_sizes == 1
    assert {p for p, by in single.constrained.items() if by} == {"chi"}


# --------------------------------------------------------------------------- independent check
#
# The reference: local identifiability by linear algebra. Parametrise the shared model by
# theta = (a, b, m, n, s) (monomial g), write down what each kind measures directly as functions
# of theta, and call a quantity q identifiable from a set of kinds when grad q lies in the row
# space of the Jacobian of those measurements (rank does not grow when grad q is appended).
# This knows nothing of the identities the module chains together.

THETA = jnp.array([1.7, 1.4, 0.8, 1.3, 0.9])  # a generic point: a, b, m, n, s


def _quantities(theta):
    a, b, m, n, s = theta
    rho = n / m
    rob = rho / b
    return {
        "a": a,
        "b": b,
        "rho": rho,
        "chi": (a - 1) * rob,
        "gamma": (1 + b - a) * rob,
        "rho_over_b": rob,
        "m": m,
        "n": n,
        "alpha": 2 * s / (2 * s + 1 / b),
        "s": s,
    }


def _measured(kind: str, several: bool, target_power: bool):
    def f(theta):
        a, b, m, n, s = theta
        q = _quantities(theta)
        out = {
            "loss": [q["chi"]] + ([a - 1] if several else []),
            "quantization": [q["gamma"]],
            "pruning": [1 + b - a, q["rho_over_b"]],
            "density": [q["rho_over_b"]],
            "spectrum": [b] + ([a] if target_power else []),
            "modes": [n, b * m],
            "data_scaling": [q["alpha"]],
        }[kind]
        return jnp.stack(out)

    return f


def _jacobians(several: bool, target_power: bool) -> dict[str, np.ndarray]:
    return {
        kind: np.asarray(jax.jacfwd(_measured(kind, several, target_power))(THETA))
        for kind in schema.KINDS
    }


GRADS = {
    name: np.asarray(jax.grad(lambda t, name=name: _quantities(t)[name])(THETA))
    for name in NAMED_PARAMETERS + OTHER_PARAMETERS
}


def _identifiable(rows: list[np.ndarray], grad: np.ndarray) -> bool:
    if not rows:
        return False
    jac = np.vstack(rows)
    return np.linalg.matrix_rank(np.vstack([jac, grad]), tol=1e-9) == np.linalg.matrix_rank(
        jac, tol=1e-9
    )


@pytest.mark.parametrize("several", [False, True])
@pytest.mark.parametrize("target_power", [False, True])
def test_every_combination_against_jacobian_rank(several: bool, target_power: bool) -> None:
    jac = _jacobians(several, target_power)
    subsets = [
        frozenset(c)
        for r in range(len(schema.KINDS) + 1)
        for c in itertools.combinations(schema.KINDS, r)
    ]
    ok = {
        (t, name): _identifiable([jac[k] for k in t], g)
        for t in subsets
        for name, g in GRADS.items()
    }
    minimal = {
        (t, name): ok[t, name] and not any(ok[t - {u}, name] for u in t)
        for t in subsets
        for name in GRADS
    }
    for subset in subsets:
        ident = identify_kinds(subset, loss_sizes=2 if several else 1, target_power=target_power)
        for name in GRADS:
            by = ident.constrained.get(name, ident.others.get(name))
            assert bool(by) == ok[subset, name], (sorted(subset), name)
            # attribution: the kinds of the minimal identifying subsets
            kinds = set().union(*(t for t in subsets if t <= subset and minimal[t, name]))
            assert set(by) == kinds, (sorted(subset), name)
        # the invariant's own rule, restated: chi from loss, gamma from
        # quantization, rho/b from pruning or density, b from the spectrum or the pruning slope
        # with a from several loss sizes
        b_ok = "spectrum" in subset or ("pruning" in subset and several)
        frontier_ok = bool(subset & {"pruning", "density"})
        testable = "loss" in subset and "quantization" in subset and frontier_ok and b_ok
        assert ident.invariant_testable == testable
        assert (ident.missing == ()) == ident.invariant_testable
