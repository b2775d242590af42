import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer

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


@dataclass
class OpenAIStub:
    url: str  # base URL, ending in /v1: clients post to {url}/chat/completions
    requests: list[tuple[str, dict]]  # (path, request JSON), in order

    @property
    def prompts(self) -> list[str]:
        return [body["messages"][0]["content"] for _, body in self.requests]


@pytest.fixture
def openai_stub():
    """Start a local OpenAI-compatible chat endpoint: ``openai_stub(reply)`` answers every POST with
    the message content ``reply(request JSON)`` and records the requests. Servers stop after the test."""
    servers = []

    def start(reply: Callable[[dict], str]) -> OpenAIStub:
        requests: list[tuple[str, dict]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                requests.append((self.path, body))
                payload = json.dumps({"choices": [{"message": {"content": reply(body)}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass  # keep the test output clean

        server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return OpenAIStub(f"http://127.0.0.1:{server.server_port}/v1", requests)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
