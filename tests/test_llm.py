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
                "/null/chat/completions": (200, json.dumps({"choices": [{"message": {"content": None}}]})),
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


def test_an_answer_without_text_is_an_error_not_the_string_none(endpoint):
    url, _ = endpoint
    with pytest.raises(LlmEndpointError, match="answered without text"):
        ChatClient(f"{url}/null", "m").complete("hi")


def test_the_api_key_goes_only_over_https_or_to_this_machine(monkeypatch):
    from pivotlens.llm import may_send_key, redact_url

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    with pytest.raises(LlmEndpointError, match="refusing to send \\$OPENAI_API_KEY in clear text to http://llm.example.org/v1"):
        ChatClient("http://llm.example.org/v1", "m").complete("hi")  # refused before any connection
    assert may_send_key("https://llm.example.org/v1") and may_send_key("http://localhost:8000/v1")
    monkeypatch.setenv("PIVOTLENS_ALLOW_PLAIN_HTTP_KEY", "1")
    assert may_send_key("http://llm.example.org/v1")
    assert redact_url("https://me:pw@llm.example.org:8443/v1?api_key=x") == "https://llm.example.org:8443/v1"
    with pytest.raises(LlmEndpointError, match="give an http"):
        ChatClient("file:///etc/passwd", "m")


def test_an_answer_names_its_option_letter_or_none():
    from pivotlens.clwtd.llm_check import parse_choice

    assert [parse_choice(a) for a in ["C", "(c).", "I think it is option C", "The answer is: D", "B. chat",
                                      "I do not know", "Answer: J"]] == ["C", "C", "C", "D", "B", None, "J"]
