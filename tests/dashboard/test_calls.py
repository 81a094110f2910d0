"""Calls and messages: the list and its filters, transcript search, a call's page with its
transcript and the tools the agent used, and its recording played through Sera (audited)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from sera.adapters.twilio.events import RecordingEvent
from sera.adapters.twilio.voice import recording_ready
from sera.agent.service import Agent, ConversationRef
from sera.bootstrap import Sera
from sera.calls.service import TranscriptLine, end_call, save_transcript, start_call
from sera.customers.service import find_or_create_customer
from sera.merchants.providers import set_provider_account
from sera.storage.models import AuditEntry
from tests.conftest import FakeClock, Personas
from tests.dashboard.conftest import Browser, Team, check_accessibility, no_csp_violations
from tests.fakes.twilio_server import TwilioServer, new_sid
from tests.fakes.vapi_server import FakeVapi

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCRIPT = "<script>alert(1)</script>"
PHRASE = "the rear derailleur skips on the big cog"
ROLES = ("owner", "admin", "agent", "viewer")


def add_call(
    sera: Sera,
    merchant_id: str,
    *,
    ago: timedelta = timedelta(minutes=5),
    channel: str = "voice",
    provider: str = "twilio",
    direction: str = "inbound",
    outcome: str = "knowledge",
    name: str | None = None,
    phone: str = "+13125550160",
    lines: tuple[str, ...] = ("Do you fix e-bikes?",),
) -> str:
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        customer = find_or_create_customer(uow, name=name, phone=phone) if name else None
        call = start_call(
            uow,
            channel=channel,
            direction=direction,
            provider=provider,
            from_number=phone,
            to_number="+13125550100",
            started_at=now - ago,
            customer_id=customer.id if customer else None,
        )
        turns = [TranscriptLine("agent", "Northside Cycles, this is Sam.")]
        turns += [TranscriptLine("caller", line) for line in lines]
        save_transcript(uow, call, turns)
        end_call(uow, call, ended_at=now - ago + timedelta(seconds=95), outcome=outcome)
        uow.commit()
        return call.id


@pytest.fixture
def northside_call(sera: Sera, personas: Personas) -> str:
    return add_call(
        sera, personas.northside_id, name=SCRIPT, phone="+13125550188", lines=(f"Hello, {PHRASE}.",), outcome="ticket"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_list_and_a_call(
    as_role: Callable[[str], Browser], northside_call: str, role: str
) -> None:
    client = as_role(role)
    listed = client.get("/dashboard/calls")
    assert listed.status_code == 200
    assert f"/dashboard/calls/{northside_call}" in listed.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listed.text and SCRIPT not in listed.text
    page = client.get(f"/dashboard/calls/{northside_call}")
    assert page.status_code == 200
    assert PHRASE in page.text
    assert "Ticket opened" in page.text
    assert SCRIPT not in page.text


def test_the_outsider_sees_none_of_northsides_calls(
    as_role: Callable[[str], Browser], northside_call: str, sera: Sera, personas: Personas
) -> None:
    theirs = add_call(sera, personas.southside_id, phone="+13125550999")
    client = as_role("outsider")
    listed = client.get("/dashboard/calls")
    assert f"/dashboard/calls/{theirs}" in listed.text
    assert northside_call not in listed.text
    for url in (f"/dashboard/calls/{northside_call}", f"/dashboard/calls/{northside_call}/recording"):
        answer = client.get(url)
        assert answer.status_code == 404
        assert PHRASE not in answer.text


def test_logged_out_visitors_are_sent_to_log_in(browser: Callable[[], Browser], northside_call: str) -> None:
    answer = browser().get(f"/dashboard/calls/{northside_call}")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/dashboard/login?next=")


def ids_in(html: str) -> list[str]:
    return re.findall(r'href="/dashboard/calls/(call_[0-9a-f]+)"', html)


def test_filters_narrow_the_list(as_role: Callable[[str], Browser], sera: Sera, personas: Personas) -> None:
    north = personas.northside_id
    voice = add_call(sera, north, outcome="booked", name="Ada Lovelace", phone="+13125550111")
    text = add_call(sera, north, channel="sms", outcome="knowledge")
    vapi = add_call(sera, north, provider="vapi", direction="outbound", outcome="message")
    old = add_call(sera, north, ago=timedelta(days=10), outcome="booked")
    client = as_role("agent")

    assert set(ids_in(client.get("/dashboard/calls").text)) == {voice, text, vapi, old}
    assert ids_in(client.get("/dashboard/calls?channel=sms").text) == [text]
    assert ids_in(client.get("/dashboard/calls?channel=vapi").text) == [vapi]
    assert set(ids_in(client.get("/dashboard/calls?channel=voice").text)) == {voice, old}
    assert ids_in(client.get("/dashboard/calls?direction=outbound").text) == [vapi]
    assert set(ids_in(client.get("/dashboard/calls?outcome=booked").text)) == {voice, old}
    assert ids_in(client.get("/dashboard/calls?since=2026-11-27&until=2026-11-27&outcome=booked").text) == [voice]
    assert ids_in(client.get("/dashboard/calls?until=2026-11-20").text) == [old]
    assert ids_in(client.get("/dashboard/calls?customer=(312) 555-0111").text) == [voice]
    nobody = client.get("/dashboard/calls?customer=nobody@example.com")
    assert ids_in(nobody.text) == [] and "No customer has that phone number or email" in nobody.text


def test_a_bad_filter_is_answered_with_the_reason(as_role: Callable[[str], Browser], northside_call: str) -> None:
    client = as_role("viewer")
    answer = client.get("/dashboard/calls?since=yesterday")
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text and "is not a date" in answer.text
    answer = client.get("/dashboard/calls?channel=fax")
    assert answer.status_code == 400 and "choose a channel" in answer.text
    assert client.get("/dashboard/calls?cursor=not-a-cursor").status_code == 400


def test_htmx_gets_only_the_results(as_role: Callable[[str], Browser], northside_call: str) -> None:
    answer = as_role("owner").get("/dashboard/calls?channel=voice", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<div id="calls-results"')
    assert northside_call in answer.text and "<h1>" not in answer.text


def test_the_list_pages_fifty_at_a_time(as_role: Callable[[str], Browser], sera: Sera, personas: Personas) -> None:
    made = [add_call(sera, personas.northside_id, ago=timedelta(minutes=i + 1)) for i in range(53)]
    client = as_role("owner")
    first = client.get("/dashboard/calls")
    assert ids_in(first.text) == made[:50]
    older = re.search(r'href="(/dashboard/calls\?cursor=[^"]+)"', first.text)
    assert older is not None
    second = client.get(older.group(1).replace("&amp;", "&"))
    assert ids_in(second.text) == made[50:]
    assert "Older calls" not in second.text


def test_transcript_search_opens_a_bounded_window(
    as_role: Callable[[str], Browser], sera: Sera, personas: Personas, northside_call: str
) -> None:
    north = personas.northside_id
    other = add_call(sera, north, lines=("Can I book a service?",))
    too_old = add_call(sera, north, ago=timedelta(days=40), lines=(f"Last month {PHRASE}",))
    client = as_role("agent")
    found = client.get("/dashboard/calls?q=REAR  derailleur skips")
    assert ids_in(found.text) == [northside_call]
    assert "searches the last 31 days" in found.text
    assert other not in found.text and too_old not in found.text
    # a window longer than 31 days is searched for its last 31 only: the page says which
    wide = client.get("/dashboard/calls?q=derailleur&since=2026-09-01&until=2026-11-27")
    assert ids_in(wide.text) == [northside_call]
    assert "searches the last 31 days" in wide.text
    days = client.get("/dashboard/calls?q=derailleur&since=2026-10-15&until=2026-10-20")
    assert ids_in(days.text) == [too_old] and "searches the last 6 days" in days.text


def test_the_call_page_lists_the_tools_the_agent_used(
    as_role: Callable[[str], Browser], sera: Sera, personas: Personas
) -> None:
    agent = Agent(sera)
    ref = ConversationRef(personas.northside_id, "sms", "thread-tools")
    agent.start(ref, caller_phone="+13125550123", provider="twilio")
    agent.reply(ref, "Where is my order 1001?")
    call_id = agent.hang_up(ref)
    page = as_role("viewer").get(f"/dashboard/calls/{call_id}")
    assert page.status_code == 200
    assert "<code>lookup_order</code>" in page.text
    assert "couldn&#39;t find order 1001" in page.text
    assert "Where is my order 1001?" in page.text  # the caller's turn, as a turn
    assert "This conversation was not recorded" in page.text


@pytest.fixture
def recorded_call(sera: Sera, personas: Personas, fake_twilio: TwilioServer) -> tuple[str, bytes]:
    """A Northside call recorded at the shop's own Twilio account, reported as Twilio does."""
    account, token = "AC" + "1" * 32, "shop-own-token-" + "7" * 17
    fake_twilio.add_account(account, token)
    sera.settings = sera.settings.model_copy(update={"twilio_api_base": fake_twilio.url})
    set_provider_account(sera, personas.northside_id, "twilio", account_id=account, secret=token, actor="test")
    call_sid = "CA" + "5" * 32
    with sera.uow(personas.northside_id) as uow:
        call = start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="twilio",
            from_number="+13125550142",
            to_number="+13125550100",
            started_at=sera.clock() - timedelta(minutes=2),
            provider_call_id=call_sid,
        )
        call_id = call.id
        uow.commit()
    audio = b"ID3\x03" + bytes(range(256)) * 300
    recording_sid = fake_twilio.recorded(account, call_sid, audio)
    url = f"https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{recording_sid}"
    assert recording_ready(sera, personas.northside_id, RecordingEvent(call_sid, recording_sid, "completed", url))
    return call_id, audio


@pytest.mark.parametrize("role", ROLES)
def test_every_role_plays_a_recording_through_sera_and_each_play_is_audited(
    as_role: Callable[[str], Browser],
    sera: Sera,
    recorded_call: tuple[str, bytes],
    fake_twilio: TwilioServer,
    role: str,
) -> None:
    call_id, audio = recorded_call
    client = as_role(role)
    page = client.get(f"/dashboard/calls/{call_id}")
    assert f'src="/dashboard/calls/{call_id}/recording"' in page.text
    played = client.get(f"/dashboard/calls/{call_id}/recording")
    assert played.status_code == 200
    assert played.headers["content-type"] == "audio/mpeg"
    assert played.content == audio
    assert played.headers["cache-control"] == "no-store"
    fetched = fake_twilio.state.requests_to(".mp3", method="GET")
    assert len(fetched) == 1 and fetched[0].path.startswith("/2010-04-01/Accounts/AC" + "1" * 32 + "/Recordings/RE")
    with sera.uow(readonly=True) as reader:
        entries = reader.session.execute(select(AuditEntry).where(AuditEntry.action == "recording_played")).scalars()
        plays = [(e.target_type, e.target_id, e.actor, e.details) for e in entries]
    member = re.search(r"team_member:(\w+)", plays[0][2]) if plays else None
    assert len(plays) == 1 and plays[0][:2] == ("call", call_id) and member is not None
    assert plays[0][3] == {"provider": "twilio"}


def test_a_recording_the_provider_no_longer_has_is_explained(
    as_role: Callable[[str], Browser], recorded_call: tuple[str, bytes], fake_twilio: TwilioServer
) -> None:
    call_id, _ = recorded_call
    fake_twilio.state.recordings.clear()
    answer = as_role("owner").get(f"/dashboard/calls/{call_id}/recording")
    assert answer.status_code == 502
    assert "did not give us this recording" in answer.text


def test_a_call_without_recording_has_none_to_play(as_role: Callable[[str], Browser], northside_call: str) -> None:
    assert as_role("owner").get(f"/dashboard/calls/{northside_call}/recording").status_code == 404


def test_a_stored_reference_never_sends_the_request_elsewhere(
    as_role: Callable[[str], Browser], sera: Sera, personas: Personas, recorded_call: tuple[str, bytes]
) -> None:
    from sera.calls.service import attach_recording
    from sera.storage.models import Call

    call_id, _ = recorded_call
    with sera.uow(personas.northside_id) as uow:
        call = uow.session.execute(select(Call).where(Call.id == call_id)).scalar_one()
        attach_recording(uow, call, f"https://evil.example/2010-04-01/Accounts/AC{'9' * 32}/Recordings/{new_sid('RE')}")
        uow.commit()
    assert as_role("owner").get(f"/dashboard/calls/{call_id}/recording").status_code == 502  # no such account here


def test_a_vapi_calls_recording_plays_from_vapis_storage_and_nothing_else(
    as_role: Callable[[str], Browser], sera: Sera, personas: Personas
) -> None:
    from sera.calls.service import attach_recording
    from sera.storage.models import Call

    fake = FakeVapi().start()
    try:
        sera.settings = sera.settings.model_copy(update={"vapi_api_base": fake.base_url})
        audio = b"RIFF" + bytes(range(256)) * 100
        with sera.uow(personas.northside_id) as uow:
            call = start_call(
                uow, channel="voice", direction="inbound", provider="vapi", from_number="+13125550142",
                to_number="+13125550100", started_at=sera.clock(), provider_call_id="vapi-call-1",
            )  # fmt: skip
            attach_recording(uow, call, fake.store_recording("vapi-call-1-mono.wav", audio))
            call_id = call.id
            uow.commit()
        owner = as_role("owner")
        played = owner.get(f"/dashboard/calls/{call_id}/recording")
        assert played.status_code == 200 and played.content == audio
        assert played.headers["content-type"] == "audio/wav"
        [fetched] = [r for r in fake.requests if r.path.startswith("/storage/")]
        assert "Authorization" not in fetched.headers  # the storage wants no key: none is sent
        with sera.uow(personas.northside_id) as uow:  # a reference Vapi did not give is never fetched
            call = uow.session.execute(select(Call).where(Call.id == call_id)).scalar_one()
            attach_recording(uow, call, "https://evil.example/storage/vapi-call-1-mono.wav")
            uow.commit()
        assert owner.get(f"/dashboard/calls/{call_id}/recording").status_code == 502
        assert len([r for r in fake.requests if r.path.startswith("/storage/")]) == 1
    finally:
        fake.stop()


# -- in Debian's Chromium ------------------------------------------------------------------------


def test_filtering_and_opening_a_call_in_the_browser(
    owner_page: Page, server: str, sera: Sera, personas: Personas, team: Team, clock: FakeClock, northside_call: str
) -> None:
    add_call(sera, personas.northside_id, channel="sms", lines=("Are you open on Sunday?",))
    violations = no_csp_violations(owner_page)
    page = owner_page
    page.get_by_role("link", name="Calls and messages").click()
    page.wait_for_url("**/dashboard/calls")
    assert page.locator("#calls-results tbody tr").count() == 2
    check_accessibility(page, "calls")
    page.get_by_label("Channel").select_option("voice")
    page.get_by_role("button", name="Show calls").click()
    page.wait_for_url("**/dashboard/calls?*channel=voice*")
    assert page.locator("#calls-results tbody tr").count() == 1
    assert page.locator("#calls-results tbody").inner_text().count(SCRIPT) == 1  # shown as text, not run
    page.get_by_label("Words in the transcript").fill("derailleur")
    page.get_by_role("button", name="Show calls").click()
    page.get_by_text("searches the last 31 days").wait_for()
    page.locator("#calls-results tbody a").first.click()
    page.wait_for_url(f"**/dashboard/calls/{northside_call}")
    assert PHRASE in page.locator(".turns").inner_text()
    check_accessibility(page, "call")
    assert not violations, violations
