import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from pivotlens.errors import LlmEndpointError, PivotlensError
from pivotlens.llm import ChatClient


@pytest.fixture
def endpoint():
    """/ok answers a chat completion echoing the prompt; /broken answers HTTP 500; /garbled not JSON."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers.get("Authorization"), body))
            answer = {"choices": [{"message": {"content": body["messages"][0]["content"].upper()}}]}
            status, payload = {
                "/ok/chat/completions": (200, json.dumps(answer)),
                "/garbled/chat/completions": (200, "<html>not json</html>"),
            }.get(self.path, (500, "down"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def test_chat_client_posts_one_message_and_reads_the_answer(endpoint, monkeypatch):
    base, seen = endpoint
    monkeypatch.setenv("OPENAI_API_KEY", "secret")
    assert ChatClient(f"{base}/ok/", "stub").complete("hello", temperature=0) == "HELLO"
    path, authorization, body = seen[0]
    assert path == "/ok/chat/completions" and authorization == "Bearer secret"
    assert body == {"model": "stub", "messages": [{"role": "user", "content": "hello"}], "temperature": 0}
    with pytest.raises(LlmEndpointError, match="failed .*HTTP Error 500"):
        ChatClient(f"{base}/broken", "stub").complete("hello")
    with pytest.raises(LlmEndpointError, match="did not answer like an OpenAI-compatible chat completion"):
        ChatClient(f"{base}/garbled", "stub").complete("hello")
    assert issubclass(LlmEndpointError, PivotlensError)
