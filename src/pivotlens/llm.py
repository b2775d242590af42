"""The one OpenAI-compatible chat client: POST ``{url}/chat/completions`` with urllib, the API key
from ``$OPENAI_API_KEY``; used by the CLWTD multiple-choice check and the pivot LLM filter."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from pivotlens.errors import LlmEndpointError

API_KEY_VARIABLE = "OPENAI_API_KEY"
PLAIN_HTTP_VARIABLE = "PIVOTLENS_ALLOW_PLAIN_HTTP_KEY"  # "1": send the key over http to a remote host
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def redact_url(url: str) -> str:
    """The URL without the credentials it may carry (user:password@, a query string), for manifests,
    logs and error messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def may_send_key(url: str) -> bool:
    """The key goes over https, or to this machine; plain http to another host only when the user
    opted in with $PIVOTLENS_ALLOW_PLAIN_HTTP_KEY=1."""
    parts = urllib.parse.urlsplit(url)
    return (parts.scheme == "https" or (parts.hostname or "") in LOCAL_HOSTS
            or os.environ.get(PLAIN_HTTP_VARIABLE) == "1")


@dataclass(frozen=True)
class ChatClient:
    url: str  # base URL: requests go to {url}/chat/completions
    model: str
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise LlmEndpointError(f"LLM endpoint {redact_url(self.url)!r}: give an http(s):// URL")

    def complete(self, prompt: str, **parameters) -> str:
        """The message content the model answers to one user message (``parameters``: temperature, …)."""
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], **parameters}
        headers = {"Content-Type": "application/json"}
        if api_key := os.environ.get(API_KEY_VARIABLE):
            if not may_send_key(self.url):
                raise LlmEndpointError(
                    f"refusing to send ${API_KEY_VARIABLE} in clear text to {redact_url(self.url)}: use https, "
                    f"or set {PLAIN_HTTP_VARIABLE}=1 if that network is trusted")
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(f"{self.url.rstrip('/')}/chat/completions", method="POST",
                                         data=json.dumps(body).encode("utf-8"), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.load(response)
            content = answer["choices"][0]["message"]["content"]
        except (urllib.error.URLError, OSError) as error:  # HTTPError, refused, timed out
            raise LlmEndpointError(f"the LLM endpoint {redact_url(self.url)} failed ({error}): check the URL and "
                                   f"${API_KEY_VARIABLE}") from None
        except (KeyError, IndexError, TypeError, ValueError, RecursionError) as error:  # ValueError: not JSON
            raise LlmEndpointError(f"the LLM endpoint {redact_url(self.url)} did not answer like an "
                                   f"OpenAI-compatible chat completion ({type(error).__name__})") from None
        if not isinstance(content, str):  # e.g. null when the model refused or only called a tool
            raise LlmEndpointError(f"the LLM endpoint {redact_url(self.url)} answered without text "
                                   f"(content: {json.dumps(content)[:40]})")
        return content
