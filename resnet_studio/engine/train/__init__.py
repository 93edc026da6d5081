"""Training: the loop (loop.py), what it writes and when it stops (callbacks.py), getting
ready (prepare.py), the optimiser and schedule (schedule.py), stop and pause (control.py).

    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.train import Trainer, RunControl
    Trainer(TrainConfig(data_dir="photos"), callbacks=[print]).run()
"""

from .control import RunControl
from .loop import Trainer

__all__ = ["Trainer", "RunControl"]
