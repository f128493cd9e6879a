"""The engine: I/O around the core's decisions. Never imports kopf (the controller wires it)."""
