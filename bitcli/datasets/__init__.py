"""Data sets bit reads: CIFAR-10 (the official pickle layout, download, synthetic demo set).

``CIFAR10_CLASSES`` is the one list of class names (the order of
``batches.meta``'s ``label_names``); it lives here, free of imports, so the
report can name classes without loading the reader.
"""

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
