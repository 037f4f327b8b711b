"""The BiT ResNetV2 family and its checkpoint loaders."""
