"""Helpers for deploying Ottoscaler to a cluster (used by the k8s.mk Makefile targets)."""
