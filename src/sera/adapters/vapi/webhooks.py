"""Inbound vapi webhooks: verify, parse, hand to the agent, answer in vapi's format."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
