"""View models of dashboard pages: pure functions from service answers to what a template
shows (formatted numbers, chart geometry, sentences). No I/O."""
