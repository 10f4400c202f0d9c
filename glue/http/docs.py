"""The interactive docs page: Swagger UI over ``/openapi.json``, offline.

Swagger UI's files come from the ``openapi-ui-bundles`` package (installed with
``glue-cqrs[http]``) and are served by the app itself under ``/docs/assets``: the
page loads nothing from another host (no CDN, no online validator), so it works
on a machine without internet access.
"""

from __future__ import annotations

import html
import json

from openapi_ui_bundles import swagger_ui
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

__all__ = ["assets", "docs_page"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="{root}/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {openapi},
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
</script>
</body>
</html>
"""


def docs_page(title: str, root_path: str) -> str:
    """The page's HTML.

    Args:
        title: the page's title.
        root_path: where the app is mounted (``""`` when served on its own).
    """
    openapi = json.dumps(f"{root_path}/openapi.json").replace("</", "<\\/")
    return _PAGE.format(
        title=html.escape(title), root=html.escape(root_path), openapi=openapi
    )


def assets() -> Mount:
    """The route serving Swagger UI's files at ``/docs/assets``."""
    return Mount(
        "/docs/assets", StaticFiles(directory=swagger_ui.static_path), name="assets"
    )
