"""The inference stage: from a built model to posterior draws in an ArviZ DataTree.

``runtime`` configures JAX for the machine, ``sampling`` finds optima, builds the Laplace
preconditioner and runs NUTS, ``datatree`` assembles the draws and the observed data into a
DataTree, and ``predict`` evaluates the fitted laws on new records.
"""
