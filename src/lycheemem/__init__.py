"""LycheeMem: a self-hosted long-term memory server for LLM agents."""

__version__ = "0.2.0"

__all__ = ["__version__"]
