"""The application layer: the incident engine (commands → unit of work → act), its ports, and the pieces it
runs with (write turns, guards, outage spool and replay). No framework, SDK or driver: adapters plug in through
``ports.py``."""
