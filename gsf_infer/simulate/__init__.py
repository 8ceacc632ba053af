"""Simulators of training records: ``gsf``, ``rf`` and ``nn``.

``gsf`` evaluates the theory's exact forward model (known truth), ``rf`` trains power-law
random-feature regressions by SGD (known truth), ``nn`` trains small networks on the digits
(measured, no truth for ``a``, ``b``, ``rho``). They return tables; writing is
:mod:`gsf_infer.output.artifacts`'s job. :mod:`gsf_infer.simulate.common` holds what they share.
"""
