"""Pure form codecs of the design pages: an HTML form (a multi-dict of strings) to the
service's create / update payload and back, with errors keyed by the API's 422 paths."""
