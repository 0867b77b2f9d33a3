"""`avsb relay`: a local evaluation front door for one project, fed by an upstream AvsB server
(docs/relay.md)."""
