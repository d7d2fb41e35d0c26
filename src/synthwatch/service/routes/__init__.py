"""One router per area; :func:`synthwatch.service.app.create_app` includes them all."""
