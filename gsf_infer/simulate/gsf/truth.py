"""The world's truth of a ``simulate gsf`` data set, and its provenance.

Owns what a data set is known to be: every parameter, the family, the exponents the theory
derives from them, the capacities and learning frontiers, the record counts, what was dropped and
the settings (the content of ``truth.json``), and the one-line facts of the table's header,
including the command that reproduces the data set.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from gsf_infer import __version__
from gsf_infer.data import schema
from gsf_infer.simulate.common import format_value, option_name, plain_dict
from gsf_infer.simulate.gsf.config import GsfSimConfig
from gsf_infer.simulate.gsf.exact import exponents_truth, forward, k_star, round_sig, run_name

__all__ = ["build_truth", "command_line", "simulation_provenance"]


def build_truth(
    config: GsfSimConfig,
    frame: pd.DataFrame,
    dropped: dict[str, int],
    sizes: list[float],
    t_loss: np.ndarray,
) -> dict[str, Any]:
    """Return the truth of a data set (the content of ``truth.json``).

    Parameters
    ----------
    config : GsfSimConfig
    frame : pandas.DataFrame
        The records written.
    dropped : dict of str to int
        Records left out per kind.
    sizes : list of float
        The model sizes, increasing.
    t_loss : numpy.ndarray
        The loss grid; the exponents are given at its last time.
    """
    fam_uses = {
        "ntk": (), "feature": ("n",), "monomial": ("m", "n"), "logcorr": ("m", "n", "tau"),
        "ridge": ("kap",),
    }[config.family]  # fmt: skip
    m_eff = config.m if "m" in fam_uses else 1.0
    n_eff = config.n if "n" in fam_uses else 1.0
    parameters = {
        "a": config.a, "b": config.b, "m": m_eff, "n": n_eff, "c": config.c, "A": config.A,
        "Lam": config.Lam, "E": config.E, "tau": config.tau, "kap": config.kap,
        "kappa": config.kappa, "nu": config.nu, "sigma0_sq": config.sigma0_sq,
        "pruning_scale": config.pruning_scale, "density_scale": config.density_scale,
        "s": config.s, "E_ds": config.E_ds, "B_ds": config.B_ds,
    }  # fmt: skip
    shape_only = {"m", "n", "tau", "kap"}
    unused = sorted(name for name in shape_only if name not in fam_uses)
    t_ref = float(t_loss[-1])
    truth: dict[str, Any] = {
        "simulator": "gsf-infer simulate gsf (exact discrete forward model of the theory)",
        "version": __version__,
        "family": config.family,
        "parameters": parameters,
        "unused_by_family": unused,
        "exponents": exponents_truth(config, t_ref),
        "exponents_at_t": t_ref,
        "capacities": {run_name(p): config.capacity(p) for p in sizes},
        "frontier": {
            "t": [float(t_loss[0]), t_ref],
            "k_star": [float(v) for v in k_star(config, np.array([t_loss[0], t_ref]))],
        },
        "records": {
            k: int(v)
            for k, v in frame["kind"].value_counts().reindex(schema.KINDS).dropna().items()
        },
        "dropped": dropped,
        "pruning_metric": config.pruning_metric,
        "noise": {"kind": "log-normal (modes: normal on logit phi)", "sd": config.noise},
        "settings": plain_dict(config),
    }
    if config.family in ("logcorr", "ridge"):
        ts = round_sig(np.geomspace(config.t_min, config.t_max, 6))
        truth["rho_of_t"] = {
            "t": [float(t) for t in ts],
            "rho": [exponents_truth(config, float(t))["rho"] for t in ts],
        }
    if "pruning" in config.kinds:
        # deferred: imports JAX (the command line imports this package before configuring JAX)
        from gsf_infer.model.forward import derived

        spec, g, fam = forward(config)
        K = config.capacity(config.pruning_size)
        ts = np.asarray(config.pruning_times, float)
        truth["pruning_critical_rate"] = {
            "t": [float(t) for t in ts],
            "r_star": [float(v) for v in derived.critical_pruning_rate(ts, K, spec, g, fam)],
        }
    return truth


def command_line(config: GsfSimConfig, seed: int, out: str, truth: str | None = None) -> str:
    """Return the ``gsf-infer simulate gsf`` command that reproduces ``config``."""
    parts = ["gsf-infer", "simulate", "gsf", "--out", str(out)]
    if truth is not None:
        parts += ["--truth", str(truth)]
    parts += ["--seed", str(seed)]
    for f in fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        parts += [option_name(f.name), format_value(value)]
    return " ".join(parts)


def simulation_provenance(
    config: GsfSimConfig, truth: dict[str, Any], seed: int, command: str
) -> dict[str, str]:
    """One-line facts for the table's ``# key: value`` header (nothing time-dependent)."""
    params = truth["parameters"]
    ex = truth["exponents"]
    prov = {
        "source": "synthetic: gsf-infer simulate gsf (exact discrete forward model of the theory)",
        "command": command,
        "version": __version__,
        "seed": str(seed),
        "family": config.family,
        "truth": ", ".join(
            f"{k}={params[k]:g}" for k in ("a", "b", "m", "n", "c", "A", "Lam", "E", "kappa", "nu")
        ),
        "exponents": ", ".join(
            f"{k}={ex[k]:.6g}" for k in ("rho", "chi", "gamma", "rho_over_b", "pruning_slope")
        )
        + f" (at t={truth['exponents_at_t']:g})",
        "noise": f"log-normal, sd {config.noise:g} on every observed value (modes: on logit)",
        "records": ", ".join(f"{k}: {v}" for k, v in truth["records"].items()),
    }
    if "modes" in truth["dropped"]:
        prov["dropped"] = (
            f"modes: {truth['dropped']['modes']} records with noiseless phi outside "
            f"({config.modes_min:g}, {config.modes_max:g})"
        )
    return prov
