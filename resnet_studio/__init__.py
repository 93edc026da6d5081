"""ResNet Studio: fine-tune ResNets on your own photos."""

__version__ = "0.1.0"
