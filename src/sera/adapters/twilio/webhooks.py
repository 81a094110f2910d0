"""Inbound twilio webhooks: verify, parse, hand to the agent, answer in twilio's format."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
