"""Experiment results: aggregation in the event store, statistics, history, decision."""
