"""The default project served as its README says, in a real browser: headless Chromium, driven
by Playwright. The API docs render with nothing loaded from another host; a page of an
allowed origin calls the API across origins (a preflight, then reads Link), another cannot.
With auth=oidc, the docs' Authorize button signs in at the provider, and the docs call the API
with its token. Screenshots of the docs are kept in artifacts/browser/."""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import Browser, Route, sync_playwright
from playwright.sync_api import Request as PlaywrightRequest

from .baking import COMBINATIONS, TEMPLATE, VARIANTS, Project
from .conftest import combination_params, rendered
from .test_auth import provider
from .test_variants import migrated_database

pytestmark = pytest.mark.slow

ARTIFACTS = TEMPLATE / "artifacts" / "browser"
# The service's name for the browser, resolved to loopback by the browser alone: Swagger UI
# hides what it would fetch from elsewhere on a page served from "localhost" or "127.0.0.1".
HOST = "items.test"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Chromium, as installed (Debian's package, or Chrome on GitHub's runners), without network
    beyond loopback. Without one the tests are skipped, except in CI (CI is set): they fail."""
    names = ("chromium", "chromium-browser", "google-chrome")
    executable = next(filter(None, map(shutil.which, names)), None)
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("the browser tests need Chromium, which CI must have")
        pytest.skip("the browser tests need Chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=[f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]
        )
        yield launched
        launched.close()


class Page(BaseHTTPRequestHandler):
    """A blank page, the client of another origin."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>A client</title>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def origins() -> Iterator[tuple[str, str]]:
    """Two origins serving a blank page: the first is allowed to call the API, the second not."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Page) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{server.server_address[1]}" for server in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=combination_params(COMBINATIONS[:1]))
def served(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    origins: tuple[str, str],
) -> Iterator[tuple[str, Path]]:
    """The default project, served once for this module's tests, with the first origin allowed;
    its base URL (by `HOST`) and its log."""
    project = rendered(request.param, projects, workdir)
    directory = tmp_path_factory.mktemp("browser")
    env = migrated_database(project, directory, request) | {"CORS_ORIGINS": origins[0]}
    log = directory / "server.log"
    with project.serving(env, log) as base:
        yield base.replace("127.0.0.1", HOST), log


@pytest.mark.parametrize(
    ("path", "operation"),
    [("/docs", "#operations-{}-{}"), ("/redoc", '[id="tag/{}/operation/{}"]')],
    ids=["docs", "redoc"],
)
def test_the_docs_render_with_nothing_loaded_from_another_host(
    browser: Browser, served: tuple[str, Path], path: str, operation: str
) -> None:
    base, _ = served
    page = browser.new_page()
    left: list[str] = []  # requests for another host, which never reach the network

    def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(base).netloc:
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    failed: list[PlaywrightRequest] = []
    page.on("requestfailed", lambda request: failed.append(request))
    page.goto(base + path)

    schema = json.loads(urlopen(base.replace(HOST, "127.0.0.1") + "/openapi.json").read())
    operations = {
        op["operationId"]: op["tags"][0] for ops in schema["paths"].values() for op in ops.values()
    }
    assert "create_item" in operations
    assert "list_items" in operations
    for name, tag in operations.items():
        page.wait_for_selector(operation.format(tag, name), timeout=15_000)
    page.wait_for_load_state("networkidle")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{path.strip('/')}.png", full_page=True)

    if path == "/docs":  # Swagger UI calls the API: the page's policy lets it
        page.click("#operations-items-list_items .opblock-summary")
        page.click("#operations-items-list_items .try-out__btn")
        page.click("#operations-items-list_items .execute")
        answer = "#operations-items-list_items .live-responses-table .response .response-col_status"
        assert page.locator(answer).inner_text().strip().startswith("200")
    page.close()

    assert left == [], "requests for other hosts"
    # ReDoc's footer would fetch Redocly's logo: the page's Content-Security-Policy stops it
    # before it is sent.
    blocked = [(request.url, request.failure) for request in failed]
    logo = ("https://cdn.redoc.ly/redoc/logo-mini.svg", "csp")
    assert blocked == ([logo] if path == "/redoc" else [])


def test_a_page_of_an_allowed_origin_calls_the_api_and_reads_link_another_cannot(
    browser: Browser, served: tuple[str, Path], origins: tuple[str, str]
) -> None:
    base, log = served
    api = base.replace(HOST, "127.0.0.1")
    for title in ("First", "Second"):
        body = json.dumps({"title": title}).encode()
        urlopen(Request(f"{api}/items", body, {"content-type": "application/json"}))
    link = urlopen(f"{api}/items?limit=1").headers["link"]

    # A PATCH with JSON and a header of the API's own: the browser asks first (a preflight).
    script = """async ([api, title]) => {
        try {
            const patch = await fetch(api + "/items/1", {
                method: "PATCH",
                headers: {"content-type": "application/json", "x-request-id": "from-a-page"},
                body: JSON.stringify({title: title}),
            });
            const list = await fetch(api + "/items?limit=1");
            return {
                patch: patch.status,
                request_id: patch.headers.get("x-request-id"),
                link: list.headers.get("link"),
            };
        } catch (error) {
            return {error: error.name};
        }
    }"""
    results = []
    for number, origin in enumerate(origins):
        page = browser.new_page()
        page.goto(origin)
        results.append(page.evaluate(script, [api, f"Changed by page {number}"]))
        page.close()
    allowed, other = results

    assert link.startswith(f"<{api}/items?")
    assert link.endswith('>; rel="next"')
    assert allowed == {"patch": 200, "request_id": "from-a-page", "link": link}
    assert other == {"error": "TypeError"}  # the browser refused: "Failed to fetch"
    assert json.loads(urlopen(f"{api}/items/1").read())["title"] == "Changed by page 0"
    assert log.read_text().count("PATCH /items/1") == 1  # the other's was never sent


OIDC = [variant for variant in VARIANTS if variant.get("auth") == "oidc"]


@pytest.fixture(params=combination_params(OIDC[:1]))
def signing_in(
    request: pytest.FixtureRequest,
    projects: dict[str, Project],
    workdir: Path,
    tmp_path: Path,
) -> Iterator[str]:
    """A project with auth=oidc served against the provider its docs/auth.md starts, with the
    docs' sign-in on (OIDC_DOCS_CLIENT_ID); its base URL, by `HOST`."""
    project = rendered(request.param, projects, workdir)
    env = migrated_database(project, tmp_path, request) | {"OIDC_DOCS_CLIENT_ID": "items-docs"}
    with (
        provider(project, tmp_path / "issuer.log") as settings,
        project.serving(env | settings, tmp_path / "server.log") as base,
    ):
        yield base.replace("127.0.0.1", HOST)


def test_the_docs_sign_in_at_the_provider_with_pkce_and_call_the_api_with_its_token(
    browser: Browser, signing_in: str
) -> None:
    """Authorize, in the provider's section: the provider's sign-in page opens, and once signed
    in the docs hold a token, fetched with the code and its PKCE verifier; "Try it out" sends
    it, and the API answers 200 where it answers 401 without."""
    page = browser.new_page()
    exchanged: list[str] = []  # what the page sent to the token endpoint

    def to_the_token_endpoint(request: PlaywrightRequest) -> None:
        if request.url.endswith("/token"):
            exchanged.append(request.post_data or "")

    page.on("request", to_the_token_endpoint)
    page.goto(signing_in + "/docs")
    listed = "#operations-items-list_items"
    page.click(f"{listed} .opblock-summary")
    page.click(f"{listed} .try-out__btn")
    page.click(f"{listed} .execute")
    status = page.locator(f"{listed} .live-responses-table .response .response-col_status")
    unauthorized = status.inner_text().strip()

    page.click(".auth-wrapper .authorize")
    flow = "OpenIdConnect (OAuth2, authorization_code with PKCE)"
    scheme = page.locator(".auth-container", has_text=flow)
    client_id = scheme.locator("#client_id_authorization_code").input_value()
    with page.expect_popup() as opened:
        scheme.locator("button.authorize").click()
    sign_in = opened.value
    sign_in.wait_for_load_state()
    sign_in_page = sign_in.url
    sign_in.fill("input[name=subject]", "carol")
    with page.expect_response(lambda response: response.url.endswith("/token")) as issued:
        sign_in.click("button")
    payload = issued.value.json()["access_token"].split(".")[1]
    subject = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    scheme.locator("h6", has_text="Authorized").wait_for(timeout=15_000)  # signed in
    page.click(".auth-btn-wrapper .btn-done")
    page.click(f"{listed} .execute")
    page.wait_for_function(
        "selector => !document.querySelector(selector).innerText.startsWith('401')",
        arg=f"{listed} .live-responses-table .response .response-col_status",
    )
    authorized = status.inner_text().strip()
    page.close()

    assert unauthorized.startswith("401")
    assert client_id == "items-docs"  # OIDC_DOCS_CLIENT_ID
    assert "/authorize?response_type=code&" in sign_in_page
    assert "items%3Aread%20items%3Awrite" in sign_in_page  # the scopes the schema names
    assert "code_challenge_method=S256" in sign_in_page
    assert len(exchanged) == 1
    assert subject == "carol"  # whom the sign-in page signed in
    assert "grant_type=authorization_code" in exchanged[0]
    assert "code_verifier=" in exchanged[0]
    assert authorized.startswith("200")
