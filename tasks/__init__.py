"""The work: pure conversion (engine), capped subprocesses (sandbox), infrastructure (broker,
queue, bus, storage, logs), the application service and the worker runtime, in layers."""
