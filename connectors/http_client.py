"""The httpx client a connector uses: a shared one passed in, or its own."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import httpx

__all__ = ["USER_AGENT", "HttpClientOwner"]


def _user_agent() -> str:
    try:
        return f"revflow/{version('revflow')}"
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "revflow"


# what Revflow's own HTTP clients send, whichever library carries the request
USER_AGENT = _user_agent()


class HttpClientOwner:
    """Holds a connector's ``httpx.AsyncClient``.

    A client passed in (the service's shared pool) is used and never closed here;
    without one, ``new_client`` makes one on first use and ``close_client`` closes it.
    """

    _client: httpx.AsyncClient | None
    _owns_client: bool

    def init_client(self, http_client: httpx.AsyncClient | None) -> None:
        self._owns_client = http_client is None
        self._client = http_client

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self) -> httpx.AsyncClient:
        """The client made when none was passed in."""
        return httpx.AsyncClient()

    async def close_client(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
