"""Fixtures for the model/checkpoint tests: one seeded random R50x1 in every checkpoint format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bt_reference import plant_big_transfer, remove_big_transfer




@pytest.fixture(scope="session")
def random_loaded():
    """A seeded random BiT-M-R50x1 with a 10-class head."""
    from bitcli.model.checkpoint import load_checkpoint

    return load_checkpoint("random", seed=3)


@pytest.fixture(scope="session")
def probe():
    """A fixed 32 px batch the fully convolutional model accepts."""
    import torch

    return torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))


@pytest.fixture(scope="session")
def reference_logits(random_loaded, probe):
    import torch

    with torch.no_grad():
        return random_loaded.model(probe).numpy()


@pytest.fixture(scope="session")
def checkpoint_files(random_loaded, tmp_path_factory) -> dict[str, Path]:
    """The random model saved in every supported format; name -> path."""
    import torch

    from google_npz import write_google_npz

    root = tmp_path_factory.mktemp("ckpt")
    sd = random_loaded.model.state_dict()
    files = {
        # Misleading suffixes on purpose: the format is detected from content.
        "state_dict": root / "plain_state_dict.npz",
        "module_prefixed": root / "dp.pth",
        "train_py": root / "bit.pth.tar",
        "npz": root / "BiT-M-R50x1_npz.pth",
    }
    torch.save(sd, files["state_dict"])
    torch.save({f"module.{k}": v for k, v in sd.items()}, files["module_prefixed"])
    torch.save({"step": 7, "model": {f"module.{k}": v for k, v in sd.items()}, "optim": {"state": {}}}, files["train_py"])
    write_google_npz(sd, files["npz"])
    for name in ("bit_pytorch.models", "models"):
        files[f"pickle:{name}"] = root / f"whole_{name}.pth"
        bt = plant_big_transfer(name)
        try:
            model = bt.ResNetV2([3, 4, 6, 3], 1, head_size=10)
            model.load_state_dict(sd)
            torch.save(torch.nn.DataParallel(model), files[f"pickle:{name}"])
        finally:
            remove_big_transfer(name)
    return files
