"""The application service (layer 2): what the API asks for and what a worker runs, on the
models and the infrastructure below (storage, queue, bus, sandbox). One call per command."""
