"""The design pages: experiments, flags, exclusion groups and audiences (issue #14 item 2)."""
