"""``gsf-infer simulate gsf|rf|nn``: synthetic data with known truth (nn: measured, no truth).

Modules
-------
command
    :func:`~gsf_infer.cli.simulate.command.register` builds a command from a table of options;
    the steps the three share (refusing existing outputs, parsing lists, writing).
gsf, rf, nn
    Each command's table of options and what it runs (its docstring is the command's help).
"""

from gsf_infer.cli.simulate import gsf, nn, rf
from gsf_infer.cli.simulate.command import register, simulate_app

__all__ = ["simulate_app"]

register("rf", rf.run, rf.OPTIONS)
register("gsf", gsf.run, gsf.OPTIONS)
register("nn", nn.run, nn.OPTIONS)
