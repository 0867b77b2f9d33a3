"""Design review: rule-based findings on an experiment design, and hypothesis suggestions."""
