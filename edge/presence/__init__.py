"""Presence: adverts in, triggers and visits out (decode -> model -> two streams), plus the
radio adapters.

The presence model (model.py, filterbank.py) multiplies many small matrices with numpy.
Threads in the BLAS behind numpy only add hand-offs at that size (3x slower on two shared
cores, worse on a busy Pi), so the package asks for one BLAS thread. That works only before
numpy first loads (here, before any presence module imports it); a value the user set wins.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
