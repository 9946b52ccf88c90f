from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.smtpkit import SmtpServer, smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on a loopback port."""
    with smtp_server() as server:
        yield server
