"""The analysis stage: what the posterior says.

``summary`` makes the parameter table and convergence diagnostics, ``identify`` says what the
records can identify, ``invariant`` decides the verdict on ``chi + gamma = rho``, ``ppc`` runs the
predictive checks and LOO-PIT, ``checks`` assembles them into ``checks.json``, ``comparison``
compares models by PSIS-LOO, and ``sbc`` and ``calibrate`` run simulation-based calibration.
"""
