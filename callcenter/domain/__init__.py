"""The pure core of the incident engine: no I/O, no framework, time passed in."""
