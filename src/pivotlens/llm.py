"""The one OpenAI-compatible chat client: POST ``{url}/chat/completions`` with urllib, the API key
from ``$OPENAI_API_KEY``; used by the CLWTD multiple-choice check and the pivot LLM filter."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from pivotlens.errors import LlmEndpointError

API_KEY_VARIABLE = "OPENAI_API_KEY"


@dataclass(frozen=True)
class ChatClient:
    url: str  # base URL: requests go to {url}/chat/completions
    model: str
    timeout_s: float = 60.0

    def complete(self, prompt: str, **parameters) -> str:
        """The message content the model answers to one user message (``parameters``: temperature, …)."""
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], **parameters}
        headers = {"Content-Type": "application/json"}
        if api_key := os.environ.get(API_KEY_VARIABLE):
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(f"{self.url.rstrip('/')}/chat/completions", method="POST",
                                         data=json.dumps(body).encode("utf-8"), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.load(response)
            return str(answer["choices"][0]["message"]["content"])
        except (urllib.error.URLError, OSError) as error:  # HTTPError, refused, timed out
            raise LlmEndpointError(f"the LLM endpoint {self.url} failed ({error}): check the URL and "
                                   f"${API_KEY_VARIABLE}") from error
        except (KeyError, IndexError, TypeError, ValueError) as error:  # ValueError: not JSON
            raise LlmEndpointError(f"the LLM endpoint {self.url} did not answer like an OpenAI-compatible "
                                   f"chat completion ({error!r})") from error
