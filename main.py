"""`python main.py` opens ResNet Studio."""

import multiprocessing

from resnet_studio.ui.app import run

if __name__ == "__main__":
    multiprocessing.freeze_support()  # in a frozen app, child processes (torch.compile's workers) start here
    raise SystemExit(run())
