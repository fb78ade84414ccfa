"""`ottoscaler` verbs for pipelines, as a CI user expects them from argo or tkn: submit,
list, get, watch, logs, cancel, retry, approve. One module a verb; common.py has what
they share."""

from __future__ import annotations

from gateway.cli.verbs import approve, cancel, get, listing, logs, retry, submit, watch
from gateway.cli.verbs.common import Subcommands, run_verb

__all__ = ["register", "run_verb"]


def register(commands: Subcommands) -> None:
    for verb in (submit, listing, get, watch, logs, cancel, retry, approve):
        verb.register(commands)
