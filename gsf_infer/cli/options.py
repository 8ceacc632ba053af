"""The options that several commands share, each declared once with its help text.

A command writes ``chains: Chains = FitOptions.chains``: the type alias carries the flag and its
help, :class:`gsf_infer.workflow.options.FitOptions` the default (the same one
:func:`gsf_infer.fit` and :func:`gsf_infer.workflow.fit.fit` use). :func:`result_folder` and
:func:`refuse_existing_file` refuse an existing output before any work is done.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from gsf_infer.output import artifacts
from gsf_infer.workflow.options import default_out

Model = Annotated[str, typer.Option(
    "--model",
    help="gsf (shared spectral parameters), deviation (gsf plus delta_Q, eps_F, delta_L: the ways "
    "chi + gamma = rho can break) or chinchilla (E + A/P^alpha + B/D^beta on loss records).",
)]
G = Annotated[str, typer.Option(
    "--g", help="Evolution function g: ntk, feature, monomial, logcorr, ridge or elastic "
    "(rho(t) learned as a smooth curve).",
)]
Tier = Annotated[str, typer.Option(
    "--tier",
    help="continuum (exact head + quadrature; cost independent of capacity), asymptotic (pure "
    "power laws) or exact (discrete sums, capped capacity; slow).",
)]


def _declared(flag: str, choices: str, key: str, writer: str, fallback: str) -> Any:
    """Make an option whose default a records file may declare in its header (``# key: value``)."""
    return typer.Option(
        flag,
        help=f"{choices} [default: what the data file declares in its header, '# {key}: ...' "
        f"({writer}), else {fallback}].",
        show_default=False,
    )


Likelihood = Annotated[str | None, _declared(
    "--likelihood", "lognormal (normal on log values) or student (Student-t, outlier-robust)",
    "likelihood", "ingest epoch_chinchilla_svg writes student", "lognormal",
)]
PruningMetric = Annotated[str | None, _declared(
    "--pruning-metric",
    "seed (the paper's unweighted sum, slope 1+b-a) or function (lambda-weighted, slope 1-a)",
    "pruning_metric", "simulate rf writes function", "seed",
)]
Discrepancy = Annotated[str, typer.Option(
    "--discrepancy",
    help="none (records independent given the law: intervals as if every record were a new "
    "realisation), spectral (a run's records share its realised spectrum: each mode's target "
    "power scatters by a factor 1 + u, variance 2 tau^2 with tau = discrepancy_scale sampled, "
    "integrated out into a low-rank covariance of the run's loss, quantization and pruning "
    "records, and each mode's realised eigenvalue is shared by its modes records; one or two "
    "parameters more) or gp (a smooth error per run and kind, a Gaussian process in log t, or "
    "log k for spectrum and modes, of sd discrepancy_sd = 0.02; up to 8 more coordinates per "
    "run and kind, a slower fit).",
)]
Priors = Annotated[Path | None, typer.Option(
    "--priors",
    help="TOML file overriding default priors, one table per parameter (see the README).",
)]
Holdout = Annotated[str | None, typer.Option(
    "--holdout",
    help="Rows to hold out, as a condition on columns, e.g. \"params>=1e9\": fit the rest, report "
    "the coverage of their predictive intervals.",
)]
Chains = Annotated[int, typer.Option(
    "--chains", help="Number of chains (run in parallel on the CPU cores).",
)]
Warmup = Annotated[int, typer.Option("--warmup", help="Warm-up iterations per chain.")]
Draws = Annotated[int, typer.Option("--draws", help="Kept draws per chain.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
TargetAccept = Annotated[float, typer.Option(
    "--target-accept",
    help="NUTS target acceptance probability, in (0, 1): raise it (0.95, 0.99) when the fit "
    "reports divergent transitions; smaller steps, longer trees, slower sampling. The chinchilla "
    "model uses at least 0.95.",
)]
MaxDraws = Annotated[int, typer.Option(
    "--max-draws",
    help="Budget of draws per chain when the fit extends its chains by itself (R-hat in "
    "(1.01, 1.05] or bulk ESS under 400, no divergences: the chains go on from where they "
    "stopped, same adaptation). Divergences rerun the chains once at target acceptance 0.97. "
    "Every such action is printed and recorded in summary.json.",
)]
CiProb = Annotated[float, typer.Option(
    "--ci-prob", help="Probability of the highest-density intervals.",
)]
Rope = Annotated[float, typer.Option(
    "--rope",
    help="Region of practical equivalence for the invariant: |delta/rho| <= ROPE.",
)]
FixUnidentified = Annotated[bool, typer.Option(
    "--fix-unidentified/--sample-unidentified",
    help="Before sampling, find the directions at the optimum whose curvature comes less than "
    "20% from the data (the prior decides them) and hold them at the optimum, unless a "
    "quantity the data identify depends on them (then they stay free). Held directions are "
    "printed, recorded in summary.json as assumptions with each quantity's sensitivity to "
    "them, and parameters they decide are labelled HELD, never data. "
    "--sample-unidentified samples every direction.",
)]
AdaptMass = Annotated[bool, typer.Option(
    "--adapt-mass",
    help="Adapt a dense mass matrix during warm-up (numpyro's windowed adaptation; give a "
    "longer --warmup, e.g. 1000, with it). By default the chains run in the coordinates the "
    "Laplace approximation at the optimum whitens and warm-up tunes the step size only, which "
    "suits posteriors close to their Laplace approximation; try this when the fit reports long "
    "trees or low ESS.",
)]
NoCheck = Annotated[bool, typer.Option(
    "--no-check",
    help="Skip the deviation-model fit behind the invariant verdict (then reported untestable).",
)]
Strict = Annotated[bool, typer.Option(
    "--strict", help="Exit with code 3 if the sampler did not converge.",
)]
FitFolder = Annotated[Path, typer.Argument(
    metavar="DIR", help="A folder written by gsf-infer fit.",
)]
Force = Annotated[bool, typer.Option(
    "--force", help="Replace an existing output (see --out).",
)]


def command_line() -> str:
    """Return the command as typed (``gsf-infer fit ...``), recorded in the results' provenance."""
    return "gsf-infer " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def result_folder(out: Path | None, data: Path, force: bool) -> Path:
    """``--out``, by default ``gsf-results/<data stem>``, checked before any work.

    It is refused if it exists and is not empty (unless ``force``) or cannot be written.

    Raises
    ------
    gsf_infer.errors.OutputExistsError
        For an existing non-empty folder without ``force``.
    """
    out = out or default_out(data)
    artifacts.refuse_existing_output(out, force)
    return out


def refuse_existing_file(path: Path | None, force: bool) -> None:
    """Refuse now, before any work, an output file that exists (unless ``force``).

    Nothing is created: the file's folder is made only when the file is written.
    """
    if path is not None and path.exists() and not force:
        artifacts.refuse_existing_output(path, force)
