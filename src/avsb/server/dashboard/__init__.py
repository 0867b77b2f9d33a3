"""The dashboard: server-rendered pages over the same services as the API (docs/dashboard.md).

For page authors, everything lives in ``avsb.server.dashboard.core``:

- ``page_router(prefix=...)``: a router of ``PageRoute`` routes (one transaction per page,
  committed below 400; errors become pages, a missing session a redirect to ``/login``).
- ``page("<family>:<access>")``: the page gate, a dependency giving the ``Viewer`` (the API's
  ``Principal``, its CSRF token, its organisations); the API's own ``require`` underneath:
  session cookie, CSRF on every POST, rate limit, tenancy, scope (403 page otherwise).
- ``render(request, "x.html", status, **context)`` and ``see_other(url, message)``; templates
  get ``viewer``, ``can(scope)``, ``csrf`` and ``flashes``; ``flash(response, text)``.
- forms: ``FormDep`` (the posted fields), ``validate(Schema, values)`` (the API's body schema;
  422 with the API's ``details.fields``), ``FormState.failed(values, error)`` for the form shown
  again with each error beside its field; macros in ``templates/macros.html``.
- edit conflicts: ``version_tag`` (hidden ``etag`` field), ``changed_since``, ``conflict_rows``
  and ``conflict.html``; destructive actions: ``confirm.html``.
- lists: ``page_request(request)`` (the API's signed cursors), ``next_url``, ``ui.pager``.
- ``register_nav(NavItem(...))``: a page in the side navigation, shown to who holds its scope.
- ``avsb.server.dashboard.charts``: server-drawn SVG charts (pure functions).
"""
