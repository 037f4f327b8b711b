"""Data sets bit reads: CIFAR-10 (the official pickle layout, download, synthetic demo set)."""
