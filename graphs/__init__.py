"""Route 2: models as networkx computation graphs, a proven VJP rule table, and reverse mode in
matrix form at symbolic sizes (see README, "Matrix form at every size").

>>> from graphs.models import model
>>> from graphs.backprop import backprop
>>> str(backprop(model("attention")).adjoint["V"])
'A.T*G'
"""
