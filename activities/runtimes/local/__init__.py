"""The local runtime: each worker is a process on this host, under a supervisor that lets
it outlive Ottoscaler (runtime.py, supervisor.py)."""

from activities.runtimes.local.runtime import LocalRuntime

__all__ = ["LocalRuntime"]
