"""The model stage: the spectral framework's forward laws, priors and probabilistic models.

``forward`` computes every kind's expected value from the spectrum and the evolution function;
``priors`` reads and holds the prior settings; ``settings`` names the model's options; ``sites``
declares the parameters; ``expected`` evaluates each kind's law and the observation model;
``deviations`` states the ways the invariant can break; ``build`` assembles the numpyro models
(``gsf``, ``deviation``, ``chinchilla``) over the arrays of the data stage.
"""
