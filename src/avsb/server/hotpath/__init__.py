"""The process's front door: a plain-ASGI app that answers the hot paths (evaluation, health)
itself, with its own minimal envelope, and hands every other request to the management app."""
