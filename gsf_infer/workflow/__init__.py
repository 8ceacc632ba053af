"""The tool's jobs as library functions, over the stages below them.

``resolve`` turns the user's options and the records' declarations into settings, ``fit`` runs
the ``gsf`` and ``deviation`` models through the sampler and assembles the result, ``batch`` splits
records into per-run or per-group subsets for ``fit --by``, and ``predict`` loads a saved fit and
evaluates it on new records. They return results; :mod:`gsf_infer.output.artifacts` writes files
and :mod:`gsf_infer.output.console` formats text. JAX must have been configured
(:func:`gsf_infer.inference.runtime.configure`) before they run; the command line does that.
"""
