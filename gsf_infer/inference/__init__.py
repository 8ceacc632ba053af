"""The inference stage: from a built model to posterior draws in an ArviZ DataTree.

``runtime`` configures JAX for the machine; ``config`` holds the sampler's settings;
``functions`` turns a model into its potential, gradient and prior draws; ``optimize`` finds
optima, the Hessian, the Laplace whitening and the curvature shares; ``chains`` runs NUTS in
compiled segments; ``sampling`` puts them together; ``datatree`` assembles draws and data into a
DataTree; ``predict`` evaluates the fitted laws on new records.
"""
