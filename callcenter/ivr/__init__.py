"""Interactive voice response: flows as data, a pure flow engine, and the media port that carries them."""
