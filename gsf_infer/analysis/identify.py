"""What a set of records can identify.

Given the kinds present in a table (and whether its loss records span several model sizes and
its spectrum records carry target powers), this module says which spectral parameters the data
constrain in the shared ``gsf`` model, through which kinds, and whether the invariant
``chi + gamma = rho`` can be tested (decided by :mod:`gsf_infer.analysis.invariant`) — and if not,
which kinds are missing. It is pure logic over kind names: it imports only the standard
library, :mod:`gsf_infer.data.schema`, :mod:`gsf_infer.analysis.invariant` and (for typing)
:mod:`gsf_infer.data.records`.

Notes
-----
Each kind measures some quantities directly (the table in ``docs/theory.md``):

- ``loss``: ``chi``; at several model sizes also the capacity floor ``nu*(a-1)``, hence ``a``
  (``nu`` is fixed, 1 by default);
- ``quantization``: ``gamma``;
- ``pruning``: the slope ``1+b-a`` and the frontier exponent ``rho/b``;
- ``density``: ``rho/b``;
- ``spectrum``: ``b`` (and ``a`` with ``target_power``);
- ``modes``: ``g`` itself — its time exponent ``n`` and its exponent in ``k``, ``b*m`` (the
  records index modes by ``k``, not by ``lambda_k``), hence the frontier ``rho/b = n/(b m)``;
  ``m`` and ``rho = n/m`` follow once ``b`` is known;
- ``data_scaling``: ``alpha``; ``s`` once ``b`` is known (``alpha = 2s/(2s + 1/b)``).

The model ties them by identities, each of which fixes any one of its three quantities from the
other two: ``chi = (a-1) rho/b``, ``gamma = (1+b-a) rho/b``, ``slope = 1+b-a``,
``rho = b * rho/b``, ``rho = chi + gamma`` (an identity of the shared model),
``rho/b = n/(b m)``, ``b m = b * m``, ``rho = n/m``, ``alpha = 2s/(2s + 1/b)``.

A parameter is *constrained* when some combination of the kinds present determines it; it is
constrained *by* the kinds that belong to at least one minimal such combination. (Minimal
combinations keep the attribution honest: ``b`` measured by ``spectrum`` is not credited to
``loss`` merely because ``loss`` and ``b`` together give the slope ``1+b-a``.)

The invariant check needs independent estimates: ``chi`` from ``loss``, ``gamma``
from ``quantization``, ``rho/b`` from ``pruning`` (else ``density``), and ``b`` from
``spectrum`` (else from the pruning slope plus the loss floor at several model sizes).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gsf_infer.data import schema
from gsf_infer.model.deviations import REQUIREMENTS, missing_requirements

if TYPE_CHECKING:
    from gsf_infer.data.records import Records

__all__ = [
    "INVARIANT_REQUIREMENTS",
    "NAMED_PARAMETERS",
    "OTHER_PARAMETERS",
    "Identification",
    "identify",
    "identify_kinds",
]

#: The parameters every fit reports (``summary.json`` and the report), in display order.
NAMED_PARAMETERS: tuple[str, ...] = ("a", "b", "rho", "chi", "gamma", "rho_over_b")

#: Further quantities some kinds identify: the exponents of a monomial ``g`` and the
#: data-scaling exponents of the redundancy law.
OTHER_PARAMETERS: tuple[str, ...] = ("m", "n", "alpha", "s")

#: The requirements of the invariant check, as they are named in :attr:`Identification.missing`.
INVARIANT_REQUIREMENTS: tuple[str, ...] = REQUIREMENTS

_SLOPE = "1+b-a"
_BM = "b*m"

#: Identities of the model: any two of the three quantities fix the third.
_RELATIONS: tuple[tuple[str, str, str], ...] = (
    ("chi", "a", "rho_over_b"),
    ("gamma", _SLOPE, "rho_over_b"),
    (_SLOPE, "a", "b"),
    ("rho", "b", "rho_over_b"),
    ("rho", "chi", "gamma"),
    ("rho_over_b", "n", _BM),
    (_BM, "b", "m"),
    ("rho", "n", "m"),
    ("alpha", "s", "b"),
)


@dataclass(frozen=True)
class Identification:
    """Which parameters a set of records constrains, and whether the invariant is testable.

    Attributes
    ----------
    constrained : dict of str to tuple of str
        For each of :data:`NAMED_PARAMETERS`: the kinds that constrain it (in
        :data:`gsf_infer.data.schema.KINDS` order); an empty tuple means the prior alone speaks.
    invariant_testable : bool
        Whether the invariant ``chi + gamma = rho`` can be tested.
    missing : tuple of str
        One string per unmet requirement of the invariant check, naming kinds exactly, with
        alternatives joined by ``" or "`` (see :data:`INVARIANT_REQUIREMENTS`); empty iff
        ``invariant_testable``.
    identifies : dict of str to tuple of str
        For each kind present: what it measures directly (as listed in the module docstring).
    others : dict of str to tuple of str
        As ``constrained``, for :data:`OTHER_PARAMETERS`.
    routes : dict of str to tuple of tuple of str
        For each of :data:`NAMED_PARAMETERS` and :data:`OTHER_PARAMETERS`: the minimal
        combinations of kinds that determine it, smallest first (``()`` = prior only).
    kinds : tuple of str
        The kinds present.
    loss_sizes : int
        Number of distinct model sizes among the loss records.
    target_power : bool
        Whether spectrum records carry target powers.
    """

    constrained: dict[str, tuple[str, ...]]
    invariant_testable: bool
    missing: tuple[str, ...]
    identifies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    others: dict[str, tuple[str, ...]] = field(default_factory=dict)
    routes: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()
    loss_sizes: int = 0
    target_power: bool = False


def identify(records: Records) -> Identification:
    """Say what a validated table can identify.

    Parameters
    ----------
    records : Records
        A table from :func:`gsf_infer.data.records.read_records`.

    Returns
    -------
    Identification
    """
    loss = records.of_kind("loss")
    spectrum = records.of_kind("spectrum")
    return identify_kinds(
        set(records.counts()),
        loss_sizes=int(loss["params"].dropna().nunique()),
        target_power=bool(spectrum["target_power"].notna().any()),
    )


def identify_kinds(
    kinds: Iterable[str], loss_sizes: int = 1, target_power: bool = False
) -> Identification:
    """Say what records of the given kinds can identify.

    Parameters
    ----------
    kinds : iterable of str
        Kinds present (each one of :data:`gsf_infer.data.schema.KINDS`).
    loss_sizes : int
        Number of distinct model sizes (``params`` values) among the loss records; two or more
        make the capacity floor, hence ``a``, identifiable.
    target_power : bool
        Whether the spectrum records carry target powers (which identify ``a``).

    Returns
    -------
    Identification

    Raises
    ------
    ValueError
        If a kind is not one of :data:`gsf_infer.data.schema.KINDS`.
    """
    present = set(kinds)
    unknown = present - set(schema.KINDS)
    if unknown:
        raise ValueError(
            f"unknown kind(s) {sorted(unknown)}; known kinds: {', '.join(schema.KINDS)}"
        )
    ordered = tuple(k for k in schema.KINDS if k in present)
    several = loss_sizes >= 2

    # Minimal combinations of kinds that determine each quantity.
    minimal: dict[str, list[frozenset[str]]] = {}
    for size in range(1, len(ordered) + 1):
        for combo in itertools.combinations(ordered, size):
            subset = frozenset(combo)
            for quantity in _closure(subset, several, target_power):
                sets = minimal.setdefault(quantity, [])
                if not any(s <= subset for s in sets):
                    sets.append(subset)

    def by(quantity: str) -> tuple[str, ...]:
        union = set().union(*minimal.get(quantity, []))
        return tuple(k for k in schema.KINDS if k in union)

    def routes(quantity: str) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(k for k in schema.KINDS if k in s) for s in minimal.get(quantity, []))

    missing = missing_requirements(present, loss_sizes, target_power)

    return Identification(
        constrained={name: by(name) for name in NAMED_PARAMETERS},
        invariant_testable=not missing,
        missing=tuple(missing),
        identifies={k: _direct_labels(k, several, target_power) for k in ordered},
        others={name: by(name) for name in OTHER_PARAMETERS},
        routes={name: routes(name) for name in NAMED_PARAMETERS + OTHER_PARAMETERS},
        kinds=ordered,
        loss_sizes=int(loss_sizes),
        target_power=bool(target_power),
    )


def _direct(kind: str, several: bool, target_power: bool) -> tuple[str, ...]:
    """Quantities one kind measures by itself (internal names)."""
    if kind == "loss":
        return ("chi", "a") if several else ("chi",)
    if kind == "quantization":
        return ("gamma",)
    if kind == "pruning":
        return (_SLOPE, "rho_over_b")
    if kind == "density":
        return ("rho_over_b",)
    if kind == "spectrum":
        return ("b", "a") if target_power else ("b",)
    if kind == "modes":
        return ("n", _BM)
    if kind == "data_scaling":
        return ("alpha",)
    raise ValueError(f"unknown kind {kind!r}")


def _direct_labels(kind: str, several: bool, target_power: bool) -> tuple[str, ...]:
    """Say what one kind measures (as listed in the module docstring)."""
    labels = {
        "loss": ("chi", "nu*(a-1) (capacity floor)") if several else ("chi",),
        "quantization": ("gamma",),
        "pruning": ("slope 1+b-a", "rho/b (frontier)"),
        "density": ("rho/b",),
        "spectrum": ("b", "a (target power)") if target_power else ("b",),
        "modes": ("g itself: n and b*m, so rho/b; m and rho once b is known",),
        "data_scaling": ("alpha (s once b is known)",),
    }
    return labels[kind]


def _closure(kinds: frozenset[str], several: bool, target_power: bool) -> set[str]:
    """Every quantity fixed by the direct measurements of ``kinds`` and the model identities."""
    known: set[str] = set()
    for kind in kinds:
        known.update(_direct(kind, several, target_power))
    changed = True
    while changed:
        changed = False
        for relation in _RELATIONS:
            unknown = [q for q in relation if q not in known]
            if len(unknown) == 1:
                known.add(unknown[0])
                changed = True
    return known


def soft_directions(curvature: list[dict[str, Any]], threshold: float = 0.2) -> list[str]:
    """Describe the principal directions at the optimum that the data barely curve, in sentences."""
    lines = []
    for c in curvature:
        if c["likelihood_share"] < threshold and c["loadings"]:
            names = ", ".join(f"{n} ({w:+.2f})" for n, w in c["loadings"])
            share = c["likelihood_share"]
            how = (f"{share:.0%} of the curvature from the data" if share >= 0 else
                   f"no curvature from the data (likelihood share {share:.0%})")
            lines.append(f"{how} along {names}: the prior decides it")
    return lines


def held_sentences(held: dict[str, Any]) -> list[str]:
    """Say which unidentified directions the sampler held at the optimum, and which it kept free.

    ``held`` is :class:`gsf_infer.inference.sampling.SamplingResult`'s ``fixed``: each held
    direction is an assumption (the data are silent along it), with the quantities it decides;
    each unidentified direction left free names the quantity that depends on it.
    """
    def along(entry: dict[str, Any]) -> str:
        names = ", ".join(f"{n} ({w:+.2f})" for n, w in entry["loadings"])
        return f"{names} (likelihood share {entry['likelihood_share']:.0%})"

    lines = []
    decided = sorted(q for q, v in held.get("quantities", {}).items() if v["share"] >= 0.5)
    for entry in held.get("directions", []):
        lines.append(f"held at the optimum, the data being silent along it: {along(entry)}; "
                     "an assumption, not a finding")
    if decided:
        lines.append("held directions decide " + ", ".join(decided)
                     + ": labelled HELD, their intervals are not findings")
    for entry in held.get("coupled", []):
        carries = ", ".join(f"{q} ({c:.0%} of its variance)" for q, c in entry["carries"].items())
        lines.append(f"left free although the prior decides it: {along(entry)}; {carries} "
                     "depend(s) on it")
    return lines
