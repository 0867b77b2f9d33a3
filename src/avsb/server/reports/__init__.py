"""Reports: one report model built from results snapshots, one renderer per format."""
