"""Outbound Ops Console: the library behind the pages, the worker and the CLI."""

__version__ = "0.1.0"
