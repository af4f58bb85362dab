"""``llm=openai``: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp server,
Ollama, LM Studio), through the official ``openai`` SDK, with tool calling."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import orjson

from agent.records import LLMRequest, LLMResponse, response_from_message


class LLMCallFailed(RuntimeError):
    """The endpoint refused or failed the call after the SDK's retries; the message never holds the key."""


class OpenAIChat:
    """Chat completions with tools. The API key comes from the environment (``api_key_env``) unless given.

    Retries of rate limits, server errors and dropped connections are the SDK's (``max_retries``,
    with its backoff); a call that still fails raises LLMCallFailed, which ends the run with status
    error and the message in the trace's end record.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        tool_choice: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        from openai import OpenAI  # imported here: ~0.5 s that offline runs should not pay

        key = api_key or os.environ.get(api_key_env)
        if not key:
            if base_url is None:
                msg = f"no API key: set {api_key_env} in the environment (or llm.api_key_env to the variable that holds it)"
                raise ValueError(msg)
            key = "unused"  # local OpenAI-compatible servers usually take any key
        self._secret = key
        self.client = OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        self.model = model
        settings = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed, "tool_choice": tool_choice}
        self.params = {k: v for k, v in settings.items() if v is not None} | dict(extra_body or {})

    def complete(self, request: LLMRequest) -> LLMResponse:
        """One chat completion: the request's messages, tools, model and params, sent as they are."""
        import openai

        body: dict[str, Any] = {"model": request.model, "messages": list(request.messages), **request.params}
        if request.tools:
            body["tools"] = list(request.tools)
        else:
            body.pop("tool_choice", None)  # the API refuses tool_choice without tools
        started = time.perf_counter()
        try:
            # The SDK's documented request for any endpoint (client.post, its retries, auth and errors),
            # not chat.completions.create: create walks every message against the SDK's TypedDicts on
            # each request, O(history), ~0.26 s a request at 200 steps (bench/RESULTS-resume-reuse.md);
            # the messages are JSON data already. Every field reaches the server as it is, and the answer
            # comes back as text: an odd one (a null id, arguments as an object) reaches
            # response_from_message as the server sent it, the one rule for answers.
            text = self.client.post("/chat/completions", body=body, cast_to=str)
        except openai.APIError as err:
            raise LLMCallFailed(self._scrub(f"{type(err).__name__}: {err}")) from None
        latency = time.perf_counter() - started
        try:
            completion = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            raise LLMCallFailed(f"the endpoint's answer is not JSON ({' '.join(str(err).split())[:120]})") from None
        choices = completion.get("choices") if isinstance(completion, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise LLMCallFailed(f"the endpoint answered with no choices (model {request.model})")
        return response_from_message(choices[0].get("message"), usage=completion.get("usage"), latency_s=latency)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***redacted***") if self._secret else text
