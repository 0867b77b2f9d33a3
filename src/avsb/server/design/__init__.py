"""Machinery shared by the experiment-design resources (experiments, flags, audiences, ...)."""
