"""bit: BiT (ResNetV2-R50x1) CIFAR-10 from a PyTorch checkpoint to verified numbers on Ascend NPUs."""

__version__ = "0.1.0"
