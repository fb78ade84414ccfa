"""What every workflow concern builds on: the frozen model base and request field checks."""
