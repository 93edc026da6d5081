"""ResNet Studio: fine-tune ResNets on your own photos."""

import os as _os

__version__ = "0.1.0"

# torch's OpenMP threads spin while they wait for work. On a busy small machine (the
# window's own thread, a browser, a second job) spinning threads take the cores the
# working ones need: measured on 2 cores, CPU training ran 3-5x slower and a ResNet-50
# prediction up to 8x slower than with threads that sleep. Read when torch loads, so
# set here, before any of this package imports it; an explicit setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
