"""A small OpenAI-compatible chat-completions server on 127.0.0.1, for tests of the live backend."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def completion(*, content: str | None = None, tool_calls: list[tuple[str, str, str]] = (), prompt_tokens: int = 11, completion_tokens: int = 7) -> dict[str, Any]:
    """A chat.completion body: final text, or tool calls given as (id, name, raw arguments)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in tool_calls]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }


class FakeOpenAI:
    """Answers POST /v1/chat/completions from a list of (status, body) replies, and keeps every request.

    A body given as bytes is sent as it is, as text/html (a proxy's error page, say).
    """

    def __init__(self, replies: list[tuple[int, dict[str, Any] | bytes]]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []  # {"headers": {...}, "body": {...}}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay per request

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                status, reply = server.replies.pop(0) if server.replies else (500, {"error": {"message": "no more replies"}})
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if isinstance(reply, bytes) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @contextmanager
    def running(self) -> Iterator[FakeOpenAI]:
        """Serve in a thread until the block ends."""
        # A short poll interval: shutdown() waits for the serving loop to notice, 0.5 s by default.
        thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(timeout=5)


class TurnServer(FakeOpenAI):
    """Answers each request by its turn (the assistant messages already in it), so a request sent again gets
    the same answer; ``hold_from`` makes requests of that turn and later wait until ``release()``.

    ``arrived`` is set when a held request has reached the server: a test waits on it (an event the run
    reaches), never on the run being slow.
    """

    def __init__(self, turns: list[dict[str, Any]], *, hold_from: int | None = None) -> None:
        super().__init__([])
        self.turns = turns
        self.hold_from = hold_from
        self.arrived = threading.Event()
        self._release = threading.Event()
        server = self
        handler = self.httpd.RequestHandlerClass

        class Turned(handler):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                turn = sum(1 for m in body["messages"] if m.get("role") == "assistant")
                server.requests.append({"path": self.path, "turn": turn, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                if server.hold_from is not None and turn >= server.hold_from:
                    server.arrived.set()
                    server._release.wait(60)
                reply = server.turns[turn] if turn < len(server.turns) else {"error": {"message": "no more turns"}}
                data = json.dumps(reply).encode()
                self.send_response(200 if turn < len(server.turns) else 500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed while this request was held

        self.httpd.RequestHandlerClass = Turned

    def release(self) -> None:
        """Let held requests (and later ones) through."""
        self.hold_from = None
        self._release.set()


def counting_turns(steps: int) -> list[dict[str, Any]]:
    """``steps - 1`` turns that each call the calculator, then a final answer."""
    turns = [completion(tool_calls=[(f"call_{i}", "calculator", json.dumps({"expression": f"{i} + 1"}))]) for i in range(steps - 1)]
    return [*turns, completion(content=f"counted to {steps - 1}")]
