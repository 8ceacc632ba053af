"""Simulators with known truth: ``gsf`` (the exact forward model) and ``rf``
(power-law random-feature regression trained by SGD). They return tables; writing is
:mod:`gsf_infer.output.artifacts`'s job.
"""
