"""Signed updates: the daemon verifies and stages a wheel; a privileged oneshot applies it."""
