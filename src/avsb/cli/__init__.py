"""The ``avsb`` command line."""
