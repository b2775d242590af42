import os

# Tests never reach a model hub: a hub id must fail fast instead of hanging on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from pivotlens.clwtd import load_dataset  # noqa: E402
from pivotlens.models import load_model  # noqa: E402
from pivotlens.models.tiny import build_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Build (once per session) the tiny model directory of an architecture."""
    built = {}

    def build(architecture: str):
        if architecture not in built:
            built[architecture] = build_tiny_model(architecture, tmp_path_factory.mktemp(architecture))
        return built[architecture]

    return build


@pytest.fixture(scope="session")
def tiny_llama(tiny_model_dir):
    return load_model(str(tiny_model_dir("llama")), device="cpu")


@pytest.fixture(scope="session")
def sample():
    return load_dataset("sample")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for every test that compares an engine with Ray."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
