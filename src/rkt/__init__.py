"""Rocket: a daemonless container runtime for App Container images, after CoreOS rkt.

For now only the command-line front end exists (``rkt version``); the store, fetchers, pods and
stage1 executors follow the layout described in the project's DESIGN.md.
"""

__version__ = "0.1.0"
