"""The signing key of in-process tests, shared by the gateway parts and the workers they
start, as one Ottoscaler's are (activities/admission.py)."""

from __future__ import annotations

from activities.admission import Admission, SpecSigner

KEY = b"ottoscaler tests"
SIGNER = SpecSigner(KEY)


def admission(max_workers_per_task: int = 50) -> Admission:
    return Admission(KEY, max_workers_per_task)
