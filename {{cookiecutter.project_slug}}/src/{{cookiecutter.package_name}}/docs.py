{%- set oidc = cookiecutter.auth == "oidc" -%}
"""The API's docs, /docs (Swagger UI) and /redoc (ReDoc), with every file they load served by
the service itself (those fastapi-offline ships), not from a CDN: they work offline."""

{% if oidc -%}
import re

{% endif -%}
from fastapi import FastAPI, Request
{%- if oidc %}
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
{%- else %}
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
{%- endif %}
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
{%- if oidc %}

from .settings import Settings
{%- endif %}

ASSETS = "/docs/assets"
# The pages may load nothing from elsewhere, not even what their scripts ask for (ReDoc, its
# footer's logo from Redocly's CDN).
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:"
)


{% if oidc -%}
def install_docs(app: FastAPI, settings: Settings) -> None:
    """Serve the docs' pages and their files (after the API's routes, which are matched first).
    With OIDC_DOCS_CLIENT_ID, Swagger UI's Authorize button signs in at the provider: the
    authorization code flow with PKCE, whose page may then fetch the provider's discovery
    document and call its token endpoint, and nothing else of another host's."""
    files = StaticFiles(packages=[("fastapi_offline", "static")])
    app.mount(ASSETS, files, name="docs-assets")
    sign_in = None
    policy = POLICY
    if settings.oidc_docs_client_id:
        scopes = f"openid {settings.oidc_read_scope} {settings.oidc_write_scope}"
        sign_in = {
            "clientId": settings.oidc_docs_client_id,
            "usePkceWithAuthorizationCodeGrant": True,
            "scopes": scopes,
        }
        origin = re.match(r"https?://[^/]+", settings.oidc_issuer)
        policy += f"; connect-src 'self' {origin[0] if origin else ''}"

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def sign_in_redirect() -> HTMLResponse:
        page = get_swagger_ui_oauth2_redirect_html()
        page.headers["Content-Security-Policy"] = POLICY
        return page
{%- else -%}
def install_docs(app: FastAPI) -> None:
    """Serve the docs' pages and their files (after the API's routes, which are matched first)."""
    files = StaticFiles(packages=[("fastapi_offline", "static")])
    app.mount(ASSETS, files, name="docs-assets")
{%- endif %}

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
{%- if oidc %}
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            init_oauth=sign_in,
        )
        page.headers["Content-Security-Policy"] = policy
{%- else %}
        )
        page.headers["Content-Security-Policy"] = POLICY
{%- endif %}
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = POLICY
        return page
