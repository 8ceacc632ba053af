"""From the user's options and the records' declarations to settings.

The likelihood and the pruning metric may be declared in the records' provenance or given as
options (an option wins, and a disagreement is noted); held-out records are selected by a pandas
query; ``--at`` specifications become a frame of new records.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from gsf_infer.data.records import Records
from gsf_infer.errors import InputError, Problem
from gsf_infer.model.priors import DEFAULT_PRIORS, PriorSet
from gsf_infer.model.settings import FRONTIER_KINDS, LIKELIHOODS

#: Where the capacity is held when the records cannot tell it from the floor ``E``: far beyond
#: the held frontier, so that the capacity floor vanishes from the law.
HELD_CAPACITY = 1e7
#: Where the frontier scale (modes learned at the reference time) is held when one loss curve
#: cannot pin it: in the spectrum's continuum over a few decades of time either side.
HELD_FRONTIER = 300.0


def split_holdout(records: Records, expr: str | None) -> tuple[Records, Records | None]:
    """Split records into (fit, held out) by a pandas query on the table (e.g. ``params>=1e9``).

    Raises
    ------
    InputError
        If the expression is invalid, selects nothing, or selects every row of some kind.
    """
    if not expr:
        return records, None
    table = records.table
    try:
        mask = table.eval(expr)
    except Exception as err:  # pandas raises many types for a bad expression
        raise InputError(
            Problem(records.path, f"--holdout: cannot evaluate {expr!r}: {err}")
        ) from None
    if not isinstance(mask, pd.Series) or mask.dtype != bool:
        raise InputError(
            Problem(records.path, f"--holdout: {expr!r} is not a true/false condition on rows")
        )
    if not mask.any():
        raise InputError(Problem(records.path, f"--holdout: {expr!r} selects no rows"))
    kept = table[~mask]
    problems = [
        Problem(records.path, f"--holdout: {expr!r} holds out every '{k}' record; nothing to fit")
        for k in table["kind"].unique()
        if not (kept["kind"] == k).any()
    ]
    if problems:
        raise InputError(problems)
    fit_part = replace(records, table=kept.reset_index(drop=True))
    held = replace(records, table=table[mask].reset_index(drop=True))
    return fit_part, held


#: Header key (``# pruning_metric: function``) through which a records file declares the metric
#: its pruning records follow; ``gsf-infer simulate rf`` writes it.
PRUNING_METRIC_KEY = "pruning_metric"


#: Header key (``# likelihood: student``) through which a records file declares the likelihood
#: its records need; ``gsf-infer ingest epoch_chinchilla_svg`` writes it (heavy-tailed residuals).
LIKELIHOOD_KEY = "likelihood"


def resolve_likelihood(requested: str | None, records: Records) -> str:
    """Choose the likelihood of a fit: as requested, else as the data declare, else ``lognormal``.

    A records file may state in its provenance header that its residuals need the outlier-robust
    likelihood (``# likelihood: student``: the digitised Chinchilla points, whose runs with fewer
    tokens than parameters lie far off any smooth law). Without a request and without such a
    declaration the default is ``lognormal`` (normal errors on the log scale, logit for ``modes``).
    """
    return _declared(requested, records, LIKELIHOOD_KEY, LIKELIHOODS, "lognormal")


def _declared(requested: str | None, records: Records, key: str, allowed, default: str) -> str:
    """Resolve one setting: ``requested``, the header's value, or ``default``.

    The value the records' header declares under ``key`` counts when it is one of ``allowed``.
    """
    if requested is not None:
        return requested
    declared = str(records.provenance.get(key, "")).strip().lower()
    return declared if declared in allowed else default


def declared_notes(
    records: Records,
    *,
    likelihood: tuple[str | None, str],
    pruning_metric: tuple[str | None, str] | None = None,
) -> list[str]:
    """One line per setting taken from the data file's header rather than from an option.

    ``likelihood`` and ``pruning_metric`` are ``(requested, used)`` pairs.
    """
    notes = []
    for option, key, pair, default in (
        ("--likelihood", LIKELIHOOD_KEY, likelihood, "lognormal"),
        ("--pruning-metric", PRUNING_METRIC_KEY, pruning_metric, "seed"),
    ):
        if pair is not None and pair[0] is None and pair[1] != default:
            notes.append(
                f"{option} {pair[1]}: declared by the data file's header ('# {key}: "
                f"{records.provenance[key]}'); pass {option} to choose otherwise"
            )
    return notes


def resolve_pruning_metric(requested: str | None, records: Records) -> str:
    """Choose the pruning metric of a fit: as requested, else as the data declare, else ``seed``.

    A records file may state in its provenance header which metric its ``pruning`` records
    follow (``# pruning_metric: function``: ``simulate rf`` measures the function-space
    distance of spectral pruning, which is the lambda-weighted sum). Without a request and
    without such a declaration the default is ``seed``, the unweighted ``sum w_k^2 phi_k^2`` of
    the theory paper's eq. 20 (:func:`gsf_infer.model.forward.laws.pruning`).
    """
    # deferred: the forward laws import JAX, which the command line configures first
    from gsf_infer.model.forward import PRUNING_METRICS

    return _declared(requested, records, PRUNING_METRIC_KEY, PRUNING_METRICS, "seed")




def parse_at(specs: list[str]) -> pd.DataFrame:
    """``["kind=loss,t=1e6,params=1e9", ...]`` as a table (one row per spec).

    Raises
    ------
    InputError
        For a pair without ``=`` or a repeated column in one spec.
    """
    rows, problems = [], []
    for i, spec in enumerate(specs, start=1):
        row: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in spec.split(","))):
            if "=" not in pair:
                problems.append(Problem(f"--at #{i}", "expected column=value", value=pair))
                continue
            key, value = (s.strip() for s in pair.split("=", 1))
            if key.lower() in {k.lower() for k in row}:
                problems.append(Problem(f"--at #{i}", "column given twice", column=key))
            row[key] = value
        rows.append(row)
    if problems:
        raise InputError(problems)
    return pd.DataFrame(rows)


def hold_capacity(records: Records, priors: PriorSet) -> tuple[PriorSet, list[str]]:
    """Hold ``K`` and ``k_star`` where loss curves at one model size cannot tell them apart.

    The loss law is ``E + loss_scale S(t, K) / S(t_ref, K)``. ``S`` keeps a floor from the
    modes beyond the capacity ``K`` and stops decaying when the frontier reaches ``K``; loss at
    one model size, and no other kind that sees the capacity, cannot tell that floor from the
    irreducible ``E``, nor a curve that flattens as the frontier nears ``K`` from one that
    flattens towards ``E``: the posterior has a wall where the frontier meets ``K``. And in the
    spectrum's continuum ``S(t)/S(t_ref)`` does not depend on the frontier's scale ``k_star``
    (a power law has no scale; ``k_star`` goes into the amplitude): one curve pins it only
    through the first, discrete modes, where the law is a sum of a few exponentials and the
    posterior is rugged. So, for such records (``loss`` the only kind that uses them, at one
    size in every group), ``K`` is held at :data:`HELD_CAPACITY` (``E`` is the level the curve
    decays to, no saturation within the data) and ``k_star`` at :data:`HELD_FRONTIER` (the
    frontier in the continuum over the data's times). A prior the user set is kept.

    Returns
    -------
    tuple
        The priors to fit with, and one sentence per held parameter (empty if nothing).
    """
    loss = records.of_kind("loss")
    if set(records.counts()) & FRONTIER_KINDS != {"loss"} or loss.empty:
        return priors, []
    if loss.groupby("group")["params"].nunique(dropna=True).max() > 1:
        return priors, []
    table, said = dict(priors.priors), []
    for name, value, why in (
        ("K", HELD_CAPACITY, "loss at one model size cannot tell the capacity floor from E, nor "
         "a curve flattening as the frontier reaches K from one flattening towards E; E is the "
         "level the curve decays to, and no saturation within the data is assumed"),
        ("k_star", HELD_FRONTIER, "in the spectrum's continuum one curve's shape does not "
         "depend on the frontier's scale (it goes into the amplitude); held where the frontier "
         "is in the continuum over the data's times, away from the first, discrete modes"),
    ):
        if table.get(name) != DEFAULT_PRIORS[name]:
            continue
        table[name] = replace(table[name], dist="Fixed", args={"value": value}, shift=0.0)
        said.append(f"{name} held at {value:g} modes: {why} (an assumption, not a finding; a "
                    f"priors file setting {name} overrides it)")
    if not said:
        return priors, []
    return PriorSet(priors=table, source=f"{priors.source}; held by the fit"), said
