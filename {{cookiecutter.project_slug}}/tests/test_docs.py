"""The API docs load every file from the service, also behind a proxy that serves it under a
path of its own (uvicorn's --root-path); their policy lets a browser load nothing from anywhere
else. (The template's tests load them in a real browser.)"""

import re

import pytest
from fastapi import FastAPI
from httpx2 import ASGITransport, AsyncClient


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
@pytest.mark.parametrize("root_path", ["", "/api"])
async def test_the_docs_load_their_files_from_the_service_alone(
    app: FastAPI, page: str, root_path: str
) -> None:
    # As uvicorn passes on a request with --root-path (the path the client asked for, in full).
    transport = ASGITransport(app=app, root_path=root_path)
    async with AsyncClient(transport=transport, base_url="http://testserver") as client:
        html = await client.get(f"{root_path}{page}")
        links = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html.text)
        files = [await client.get(link) for link in links]

    assert html.status_code == 200
    assert "default-src 'self'" in html.headers["content-security-policy"]
    assert len(links) >= 3  # a script, the schema and the icon at least
    assert all(link.startswith(f"{root_path}/") for link in links), links
    assert [file.status_code for file in files] == [200] * len(links)
    assert f"{root_path}/openapi.json" in links
