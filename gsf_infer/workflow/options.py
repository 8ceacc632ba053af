"""The model and sampler settings of a fit, their defaults written once.

:class:`FitOptions` holds what ``gsf-infer fit`` (and ``check``, ``compare``) take as options,
under the command line's names; :func:`gsf_infer.fit` and :func:`gsf_infer.workflow.fit.fit` take
the same fields as keywords. The library's older spellings ``priors_path`` (for ``priors``) and
``check_invariant`` (for ``not no_check``) are accepted by :meth:`FitOptions.of` and given back by
:meth:`FitOptions.keywords`. :func:`default_out` is a fit's default result folder. Imports only
the standard library (and the tool's errors): the command line reads the defaults from here
before anything heavy is loaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from gsf_infer.errors import InputError, Problem
from gsf_infer.inference.config import SamplerConfig
from gsf_infer.model.settings import ModelSettings

#: The defaults of the model's and the sampler's own settings, which a fit's options take.
_MODEL = ModelSettings()
_SAMPLER = SamplerConfig()

#: The library's spellings of two options: ``priors_path`` is ``priors``; ``check_invariant`` is
#: ``not no_check``.
LIBRARY_SPELLINGS = {"priors_path": "priors", "check_invariant": "no_check"}


def default_out(data_path: str | Path) -> Path:
    """Return the default output folder of a fit: ``gsf-results/<data stem>``."""
    return Path("gsf-results") / Path(data_path).stem


def check_numbers(**values: float) -> None:
    """Refuse sampler and interval settings out of range, every problem at once.

    ``chains``, ``warmup`` and ``draws`` must be positive integers, ``ci_prob`` and
    ``target_accept`` lie in (0, 1) and ``rope`` be positive; each is checked when given.

    Raises
    ------
    InputError
        One problem per bad value, named by its option (``--chains must be a positive integer``).
    """
    problems = []
    for name in ("chains", "warmup", "draws"):
        if name in values and (values[name] < 1 or int(values[name]) != values[name]):
            problems.append(
                Problem("gsf-infer", f"--{name} must be a positive integer", value=values[name])
            )
    if "ci_prob" in values and not 0 < values["ci_prob"] < 1:
        problems.append(
            Problem("gsf-infer", "--ci-prob must be in (0, 1)", value=values["ci_prob"])
        )
    if "rope" in values and not values["rope"] > 0:
        problems.append(Problem("gsf-infer", "--rope must be > 0", value=values["rope"]))
    if "target_accept" in values and not 0 < values["target_accept"] < 1:
        problems.append(
            Problem("gsf-infer", "--target-accept must be in (0, 1)", value=values["target_accept"])
        )
    if problems:
        raise InputError(problems)


@dataclass(frozen=True)
class FitOptions:
    """The model and sampler settings of one fit (``gsf-infer fit --help`` explains each).

    Attributes
    ----------
    model : str
        ``gsf``, ``deviation`` or ``chinchilla``.
    g : str
        The evolution function family: ``ntk``, ``feature``, ``monomial``, ``logcorr``,
        ``ridge``, ``elastic``.
    tier : str
        ``continuum``, ``asymptotic`` or ``exact``.
    likelihood, pruning_metric : str or None
        ``None`` takes what the records' header declares, else ``lognormal`` and ``seed``.
    priors : str, Path or None
        A TOML file overriding default priors.
    holdout : str or None
        A pandas condition on the table selecting rows to hold out and predict.
    chains, warmup, draws : int
        NUTS chains, warm-up iterations and kept draws per chain.
    seed : int
        Random seed.
    target_accept : float
        NUTS target acceptance probability, in (0, 1).
    max_draws : int
        Budget of draws per chain when the fit extends its chains by itself.
    adapt_mass : bool
        Adapt a dense mass matrix during warm-up; by default the metric is the Laplace
        approximation's and warm-up tunes the step size only.
    fix_unidentified : bool
        Hold at the optimum the directions the data leave to the prior, unless a reported
        quantity depends on them (:func:`gsf_infer.inference.optimize.soft_subspace`).
    ci_prob : float
        Probability of the highest-density intervals, in (0, 1).
    rope : float
        Region of practical equivalence of the invariant, ``|delta/rho| <= rope``.
    no_check : bool
        Skip the deviation-model fit behind the invariant's verdict.
    discrepancy : str
        ``none`` or ``gp``: a smooth function per run and kind added to the law
        (:mod:`gsf_infer.model.discrepancy`).

    Raises
    ------
    InputError
        On construction, for numbers out of range (:func:`check_numbers`).
    """

    model: str = _MODEL.model
    g: str = _MODEL.g
    tier: str = _MODEL.tier
    likelihood: str | None = None
    pruning_metric: str | None = None
    priors: str | Path | None = None
    holdout: str | None = None
    chains: int = _SAMPLER.num_chains
    warmup: int = _SAMPLER.num_warmup
    draws: int = _SAMPLER.num_samples
    seed: int = _SAMPLER.seed
    target_accept: float = _SAMPLER.target_accept_prob
    max_draws: int = _SAMPLER.max_draws
    fix_unidentified: bool = _SAMPLER.fix_unidentified
    adapt_mass: bool = _SAMPLER.adapt_mass
    ci_prob: float = 0.94
    rope: float = 0.1
    no_check: bool = False
    discrepancy: str = _MODEL.discrepancy

    def __post_init__(self) -> None:
        check_numbers(chains=self.chains, warmup=self.warmup, draws=self.draws,
                      ci_prob=self.ci_prob, rope=self.rope, target_accept=self.target_accept)

    @classmethod
    def of(cls, options: FitOptions | None = None, **values: Any) -> FitOptions:
        """``options`` (default: the defaults) with the given fields replaced.

        ``values`` are fields by name; ``priors_path`` and ``check_invariant`` are read as
        ``priors`` and ``not no_check``.

        Raises
        ------
        TypeError
            For a name that is not a field.
        InputError
            For numbers out of range.
        """
        if "priors_path" in values:
            values["priors"] = values.pop("priors_path")
        if "check_invariant" in values:
            values["no_check"] = not values.pop("check_invariant")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unexpected fit option(s): {', '.join(unknown)}")
        return replace(options or cls(), **values)

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> FitOptions:
        """Build the options from the fields found in ``values``, the others at their defaults.

        ``values`` may hold more: a command's parameters (``locals()``), named as the fields.
        """
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def keywords(self) -> dict[str, Any]:
        """Return the fields under the library's spellings.

        ``priors_path`` for ``priors`` and ``check_invariant`` for ``not no_check``, as
        :func:`gsf_infer.workflow.check.run_check` and :mod:`gsf_infer.executor` take them.
        """
        values = asdict(self)
        values["priors_path"] = values.pop("priors")
        values["check_invariant"] = not values.pop("no_check")
        return values


F = TypeVar("F", bound=Callable[..., Any])


def shows_fit_options(*, library: bool) -> Callable[[F], F]:
    """Make a decorator showing :class:`FitOptions`' fields in a function's signature.

    The function takes them through ``**values``; its signature (``inspect.signature``,
    ``help``) lists each as a keyword-only parameter with its default, under the command line's
    names, or with ``library`` under the library's (:meth:`FitOptions.keywords`), so that
    introspection sees every option and its default.
    """
    defaults = FitOptions().keywords() if library else asdict(FitOptions())

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        named = {p.name for p in kept}
        listed = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
            for name, default in defaults.items()
            if name not in named
        ]
        func.__signature__ = signature.replace(parameters=kept + listed)  # type: ignore[attr-defined]
        return func

    return decorate
