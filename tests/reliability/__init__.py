"""Crash and restart of a real `ottoscaler serve` process mid-pipeline: nothing is lost."""
