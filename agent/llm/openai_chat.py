"""``llm=openai``: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp server,
Ollama, LM Studio), through the official ``openai`` SDK, with tool calling."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from agent.records import LLMRequest, LLMResponse, Usage, tool_calls_in


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
            # extra_body carries the body as is, so fields the SDK does not know reach the server too.
            model, messages = body.pop("model"), body.pop("messages")
            completion = self.client.chat.completions.create(model=model, messages=messages, extra_body=body)
        except openai.APIError as err:
            raise LLMCallFailed(self._scrub(f"{type(err).__name__}: {err}")) from None
        latency = time.perf_counter() - started
        if not completion.choices:
            raise LLMCallFailed(f"the endpoint answered with no choices (model {model})")
        choice = completion.choices[0].message
        message: dict[str, Any] = {"role": "assistant", "content": choice.content}
        if choice.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}} for c in choice.tool_calls
            ]
        usage = completion.usage
        return LLMResponse(
            message=message,
            tool_calls=tool_calls_in(message),
            usage=Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else None,
            latency_s=latency,
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***redacted***") if self._secret else text
