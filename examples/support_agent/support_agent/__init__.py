"""A help-desk agent built on agent-harness: its own tools (support_agent.tools) and its own LLM
backend (support_agent.llm.KeywordLLM), configured from ../conf."""
