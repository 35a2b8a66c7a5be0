"""The worker side (layer 3): the taskiq tasks, this process's state, startup and shutdown,
and the supervisor behind `pagemill worker`."""
