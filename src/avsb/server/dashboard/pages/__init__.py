"""Dashboard page modules of the results area: results, tools, evaluation preview."""
