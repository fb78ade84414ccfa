"""Where secret values live while a run needs them: never in Temporal, never in a log."""
