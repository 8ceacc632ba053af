"""The analysis stage: what the posterior says.

``summary`` makes the parameter table and convergence diagnostics, ``identify`` says what the
records can identify, ``invariant`` decides the verdict on ``chi + gamma = rho``, ``checks`` runs
the predictive checks, ``comparison`` compares models by PSIS-LOO, and ``calibrate`` runs
simulation-based calibration.
"""
