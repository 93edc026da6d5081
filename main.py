"""`python main.py` opens ResNet Studio."""

from resnet_studio.ui.app import run

if __name__ == "__main__":
    raise SystemExit(run())
