"""Prior distributions: the defaults and user overrides from a TOML file.

A prior is a small frozen description (:class:`Prior`) turned into a numpyro distribution only
inside the model, so this module imports numpyro lazily. Overrides come as one TOML table per
parameter::

    [a]                 # a and b: the prior is on a - 1 (b - 1), shifted back by 1;
                        # k_star on k_star - 1, K on K - 10
    dist = "LogNormal"
    loc = -0.69
    scale = 0.8

    [nu]                # fixed by default; a table frees it
    dist = "LogNormal"
    loc = 0.0
    scale = 0.2

Distributions: ``Normal(loc, scale)``, ``LogNormal(loc, scale)``, ``HalfNormal(scale)``,
``Uniform(low, high)``, ``Fixed(value)``. Amplitudes of each kind are centred on the data's own
scale (log-normal, scale 2) and are not overridable; they are nuisance parameters.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gsf_infer.errors import InputError, Problem

DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "Normal": ("loc", "scale"),
    "LogNormal": ("loc", "scale"),
    "HalfNormal": ("scale",),
    "Uniform": ("low", "high"),
    "Fixed": ("value",),
}


@dataclass(frozen=True)
class Prior:
    """A one-dimensional prior.

    Attributes
    ----------
    dist : str
        One of :data:`DISTRIBUTIONS`.
    args : dict
        Its parameters.
    shift : float
        Added to draws (``a`` and ``b`` have ``shift = 1``: the prior is on ``a - 1``).
    doc : str
        What the parameter is, for help texts and the report.
    """

    dist: str
    args: dict[str, float]
    shift: float = 0.0
    doc: str = ""

    @property
    def fixed(self) -> bool:
        """True when the parameter is not sampled."""
        return self.dist == "Fixed"

    def numpyro(self):
        """Return the numpyro distribution (``None`` for ``Fixed``)."""
        # deferred: reading and checking priors (validate, the CLI) must not import JAX
        import numpyro.distributions as dist
        from numpyro.distributions.transforms import AffineTransform

        if self.fixed:
            return None
        base = getattr(dist, self.dist)(**self.args)
        if self.shift:
            domain = base.support
            return dist.TransformedDistribution(
                base, AffineTransform(self.shift, 1.0, domain=domain)
            )
        return base

    def describe(self) -> str:
        """Human form, e.g. ``a - 1 ~ LogNormal(loc=-0.693, scale=0.8)``."""
        args = ", ".join(f"{k}={v:.3g}" for k, v in self.args.items())
        return f"{self.dist}({args})" + (f" + {self.shift:g}" if self.shift else "")


def _ln(x: float) -> float:
    return math.log(x)


#: Default priors; names are sample-site names of the ``gsf`` model.
DEFAULT_PRIORS: dict[str, Prior] = {
    "a": Prior("LogNormal", {"loc": _ln(0.5), "scale": 0.8}, 1.0, "target-power exponent"),
    "b": Prior("LogNormal", {"loc": _ln(0.5), "scale": 0.8}, 1.0, "eigenvalue exponent"),
    "m": Prior("LogNormal", {"loc": 0.0, "scale": 0.3}, 0.0, "spectral elasticity of g"),
    "n": Prior("LogNormal", {"loc": 0.0, "scale": 0.5}, 0.0, "temporal exponent of g"),
    "n_feature": Prior(
        "LogNormal",
        {"loc": _ln(0.3), "scale": 0.8},
        1.0,
        "temporal exponent of g, feature family (n >= 1)",
    ),
    "tau": Prior(
        "LogNormal",
        {"loc": 0.0, "scale": 2.0},
        0.0,
        "time scale of the log correction, units of t_ref",
    ),
    "kap": Prior(
        "LogNormal",
        {"loc": _ln(0.01), "scale": 2.0},
        0.0,
        "weight decay, units of the frontier eigenvalue at t_ref",
    ),
    # k_star and K are bounded below (the prior is on k_star - 1 and K - 10, medians 30 and
    # 1000): the frontier at the reference time at or beyond the first mode, a model at the
    # reference size holding at least ten modes
    "k_star": Prior(
        "LogNormal",
        {"loc": _ln(29.0), "scale": 3.0},
        1.0,
        "frontier mode index at the reference time (the prior is on k_star - 1)",
    ),
    "K": Prior(
        "LogNormal",
        {"loc": _ln(990.0), "scale": 3.0},
        10.0,
        "capacity in modes at the reference size (the prior is on K - 10)",
    ),
    "nu": Prior("Fixed", {"value": 1.0}, 0.0, "capacity exponent, K = kappa P^nu"),
    "sigma": Prior("HalfNormal", {"scale": 0.1}, 0.0, "noise scale on the log scale, per kind"),
    "s": Prior("LogNormal", {"loc": 0.0, "scale": 1.0}, 0.0, "source smoothness (redundancy law)"),
    "alpha": Prior("LogNormal", {"loc": _ln(0.3), "scale": 0.6}, 0.0, "chinchilla size exponent"),
    "beta": Prior("LogNormal", {"loc": _ln(0.3), "scale": 0.6}, 0.0, "chinchilla data exponent"),
    "elastic_amp": Prior(
        "Fixed",
        {"value": 0.2},
        0.0,
        "prior sd of the drift of log rho(t) (elastic; the curve's prior mean is a constant rho)",
    ),
    "elastic_length": Prior(
        "Fixed",
        {"value": 0.5},
        0.0,
        "length scale of log rho(t) (elastic), in half-widths of its time grid",
    ),
    "discrepancy_sd": Prior(
        "Fixed",
        {"value": 0.02},
        0.0,
        "prior sd of each run's discrepancy on the log scale (--discrepancy gp; a table, e.g. "
        "HalfNormal, samples one per kind)",
    ),
    "discrepancy_length": Prior(
        "Fixed",
        {"value": 1.0},
        0.0,
        "length scale of the discrepancy, in e-folds of its axis (log t, log k; --discrepancy gp)",
    ),
    "discrepancy_scale": Prior(
        "HalfNormal",
        {"scale": 1.0},
        0.0,
        "scatter of each mode's realised target power, relative to chi^2_1 (--discrepancy "
        "spectral: variance 2 tau^2 per mode)",
    ),
    "discrepancy_eigen": Prior(
        "HalfNormal",
        {"scale": 0.1},
        0.0,
        "sd of each mode's realised log eigenvalue, shared by a run's modes records of that "
        "mode at every time (--discrepancy spectral)",
    ),
    "pool_sd": Prior(
        "HalfNormal", {"scale": 0.3}, 0.0, "spread of log(a-1), log(b-1) across groups"
    ),
}


@dataclass(frozen=True)
class PriorSet:
    """The priors of one fit: defaults with the user's overrides applied."""

    priors: dict[str, Prior] = field(default_factory=lambda: dict(DEFAULT_PRIORS))
    source: str = "defaults"

    def __getitem__(self, name: str) -> Prior:
        return self.priors[name]

    def as_attrs(self) -> dict[str, str]:
        """One string per prior, for the DataTree's attributes and the report."""
        return {name: p.describe() for name, p in self.priors.items()}


def fixed_priors(described: dict[str, str]) -> dict[str, str]:
    """Return the parameters a fit fixed, from its priors as recorded (:meth:`PriorSet.as_attrs`).

    A fixed parameter is not sampled, so it has no posterior; reports say it was fixed (an
    assumption of the fit) rather than leave it blank.
    """
    return {name: text for name, text in described.items() if str(text).startswith("Fixed(")}


def load_priors(path: str | Path | None) -> PriorSet:
    """Defaults, overridden by the tables of a TOML file.

    Raises
    ------
    InputError
        One problem per bad table: unknown parameter, unknown distribution, missing or extra
        argument, non-numeric or invalid value.
    """
    if path is None:
        return PriorSet()
    path = Path(path)
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(Problem(str(path), "no such priors file")) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(Problem(str(path), f"cannot read priors file: {err}")) from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(Problem(str(path), f"not valid TOML: {err}")) from None
    problems: list[Problem] = []
    priors = dict(DEFAULT_PRIORS)
    for name, table in raw.items():
        where = f"[{name}]"
        if name not in DEFAULT_PRIORS:
            problems.append(
                Problem(
                    str(path), f"{where}: unknown parameter; known: {', '.join(DEFAULT_PRIORS)}"
                )
            )
            continue
        if not isinstance(table, dict):
            problems.append(Problem(str(path), f"{where}: must be a table with dist = ..."))
            continue
        kind = table.get("dist")
        if kind not in DISTRIBUTIONS:
            problems.append(
                Problem(
                    str(path),
                    f"{where}: dist must be one of {', '.join(DISTRIBUTIONS)}",
                    value=kind,
                )
            )
            continue
        wanted = DISTRIBUTIONS[kind]
        args = {k: v for k, v in table.items() if k != "dist"}
        extra = sorted(set(args) - set(wanted))
        missing = [k for k in wanted if k not in args]
        if extra or missing:
            problems.append(
                Problem(
                    str(path),
                    f"{where}: {kind} takes {', '.join(wanted)}"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; unknown {', '.join(extra)}" if extra else ""),
                )
            )
            continue
        bad = [k for k, v in args.items() if isinstance(v, bool) or not isinstance(v, int | float)]
        if bad or not all(math.isfinite(float(args[k])) for k in args if k not in bad):
            problems.append(Problem(str(path), f"{where}: arguments must be finite numbers"))
            continue
        args = {k: float(v) for k, v in args.items()}
        if ("scale" in args and args["scale"] <= 0) or (
            kind == "Uniform" and args["low"] >= args["high"]
        ):
            problems.append(Problem(str(path), f"{where}: scale must be > 0 and low < high"))
            continue
        priors[name] = replace(DEFAULT_PRIORS[name], dist=kind, args=args)
    if problems:
        raise InputError(problems)
    return PriorSet(priors=priors, source=str(path))
