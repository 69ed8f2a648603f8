"""How the daemon's parts run: services hand over routes and tasks, a supervisor keeps the
tasks alive, short jobs run under it. Generic; the composition root (edge/app/) uses it."""
