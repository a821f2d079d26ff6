"""Fixtures shared by the training-centre page tests."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest

from issuer import accounts

STAFF_PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def sign_in(client, db, now):  # type: ignore[no-untyped-def]
    """Create a member of staff with ``role`` at ``organisation`` and sign in as them."""

    def sign_in(organisation, role="issuer"):  # type: ignore[no-untyped-def]
        email = f"{role}@{organisation.slug}.example"
        accounts.create_user(
            db,
            email=email,
            name=f"{role.title()} of {organisation.name}",
            password=STAFF_PASSWORD,
            now=now,
            organisation=organisation,
            role=role,
        )
        token = _TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
        response = client.post(
            "/login", data={"csrf_token": token, "email": email, "password": STAFF_PASSWORD}
        )
        assert response.status_code == HTTPStatus.FOUND
        return client

    return sign_in
