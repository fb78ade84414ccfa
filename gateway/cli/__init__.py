"""Command-line entry points: ottoscaler, test-pipeline, test-scaling."""
