"""The composition layer: what joins the runtime (agent/) and the trace library (tracing/) into commands and jobs."""
