"""A Kubernetes API emulator and fake kubelet for testing with the real `kubernetes` client."""
