"""File tools confined to the run's workspace folder."""

from __future__ import annotations

from pathlib import Path

from agent.tools import ToolContext, ToolError

MAX_READ_BYTES = 1_000_000


def _inside(ctx: ToolContext, path: str) -> Path:
    """``path`` resolved inside the workspace; absolute paths, ``..`` escapes and outbound symlinks are refused."""
    if Path(path).is_absolute():
        msg = f"path {path!r} is absolute; give a path relative to the workspace"
        raise ToolError(msg)
    root = ctx.workspace.resolve()
    target = (root / path).resolve()  # resolve() follows symlinks, so a link out of the workspace is caught too
    if not target.is_relative_to(root):
        msg = f"path {path!r} leads outside the workspace; give a path inside it"
        raise ToolError(msg)
    return target


def list_files(ctx: ToolContext, path: str = ".") -> list[str]:
    """List the files under a folder of the workspace, recursively, as workspace-relative paths.

    Args:
        path: folder to list, relative to the workspace.
    """
    folder = _inside(ctx, path)
    if not folder.is_dir():
        msg = f"{path!r} is not a folder in the workspace"
        raise ToolError(msg)
    root = ctx.workspace.resolve()
    return sorted(str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file())


def read_file(ctx: ToolContext, path: str) -> str:
    """Read a text file from the workspace.

    Args:
        path: file to read, relative to the workspace.
    """
    target = _inside(ctx, path)
    if not target.is_file():
        msg = f"no file {path!r} in the workspace"
        raise ToolError(msg)
    if target.stat().st_size > MAX_READ_BYTES:
        msg = f"{path!r} is larger than {MAX_READ_BYTES} bytes; read_file returns whole files only"
        raise ToolError(msg)
    return target.read_text(encoding="utf-8", errors="replace")


def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Write a text file in the workspace, creating folders as needed and replacing an existing file.

    Args:
        path: file to write, relative to the workspace.
        content: the text to write.
    """
    target = _inside(ctx, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    return f"wrote {len(content.encode())} bytes to {path}"
