"""Record and replay: the trace schema, writer, reader and inspect.

Kept free of Hydra imports so that reading a trace (``agent trace inspect``) starts fast.
"""
