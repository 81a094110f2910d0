"""HubSpot wired to its port: ``sera.hubspot(token)`` is that token's account, at
``SERA_HUBSPOT_API_URL`` (read on each use, so tests point a running Sera at a fake)."""

from __future__ import annotations

from sera.adapters.hubspot.client import HubspotClient, hubspot_http
from sera.bootstrap import Sera
from sera.integrations.hubspot import HubspotApi


def connect(sera: Sera) -> None:
    http = hubspot_http()  # one pool per Sera: every shop's requests go to the same host

    def account(token: str) -> HubspotApi:
        return HubspotClient(http, token, sera.settings.hubspot_api_url)

    sera.hubspot = account
