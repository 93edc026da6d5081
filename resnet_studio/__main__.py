import multiprocessing

from resnet_studio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # in a frozen app, child processes (torch.compile's workers) start here
    raise SystemExit(main())
