"""Adapters at the edge: timers, events, channels (real and fake)."""
