"""Customers: profile and history; correct, export, erase, do-not-contact."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from sera.customers.phones import InvalidPhoneError
from sera.customers.profile import correct_details, customer_profile, held_data, search_customers
from sera.customers.service import (
    CustomerNotFoundError,
    DoNotContactNotFoundError,
    get_customer,
    record_objection,
    withdraw_objection,
)
from sera.privacy.requests import complete_privacy_request
from sera.privacy.service import export_result, record_privacy_request
from sera.storage.paging import InvalidCursorError, PageRequest
from sera.team import sessions
from sera.web.api.deps import SeraDep
from sera.web.api.v1 import CorrectionIn
from sera.web.dashboard.access import PREFIX, DashboardUser, ForbiddenError, PageNotFoundError, audit_read, requires
from sera.web.dashboard.render import render
from sera.web.fields import IdPath

router = APIRouter()
ContactListKeeper = Annotated[DashboardUser, Depends(requires("customers.contact_list"))]
Corrector = Annotated[DashboardUser, Depends(requires("customers.correct"))]
CustomersReader = Annotated[DashboardUser, Depends(requires("customers.read"))]
Eraser = Annotated[DashboardUser, Depends(requires("customers.erase"))]
Exporter = Annotated[DashboardUser, Depends(requires("customers.export"))]
SOURCE = "dashboard"
DONE = {  # what a redirect after a change tells the member (fixed texts: nothing from the URL is shown)
    "corrected": "The customer's details are corrected.",
    "listed": "The customer's number is on the do-not-contact list: Sera will not call or text it.",
    "unlisted": "The customer's number is off the do-not-contact list.",
    "erased": "The customer is erased: their personal data can no longer be read, here or in any backup.",
}
Field = Annotated[str, Form(max_length=320)]


def _detail_url(customer_id: str, done: str | None = None) -> str:
    return f"{PREFIX}/customers/{customer_id}" + (f"?done={done}" if done else "")


@router.get("/customers")
def customers(
    request: Request,
    sera: SeraDep,
    user: CustomersReader,
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    error = None
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            page = search_customers(reader, q, PageRequest(limit=50, cursor=cursor))
        except InvalidPhoneError:
            page, error = None, "That is not a phone number: search by a name, a phone number or an email."
        except InvalidCursorError:
            page, error = None, "That page link is out of date: search again."
    return render(
        request,
        "dashboard/customers.html",
        user=user,
        title="Customers",
        zone=user.session.timezone,
        partial="dashboard/_customers_rows.html",
        q=q,
        page=page,
        error=error,
        notice=DONE.get(done or ""),
        status_code=400 if error else 200,
    )


def _profile_page(
    request: Request,
    sera: SeraDep,
    user: DashboardUser,
    customer_id: str,
    *,
    errors: dict[str, str] | None = None,
    entered: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            profile = customer_profile(reader, customer_id)
        except CustomerNotFoundError:
            raise PageNotFoundError from None
    audit_read(sera, user, "customer", [customer_id])
    return render(
        request,
        "dashboard/customers_detail.html",
        user=user,
        title=profile.customer.name or "A customer",
        zone=user.session.timezone,
        profile=profile,
        customer=profile.customer,
        errors=errors or {},
        entered=entered or {},
        notice=notice,
        status_code=status_code,
    )


@router.get("/customers/{customer_id}")
def customer(
    request: Request,
    sera: SeraDep,
    user: CustomersReader,
    customer_id: IdPath,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _profile_page(request, sera, user, customer_id, notice=DONE.get(done or ""))


@router.post("/customers/{customer_id}/correct")
def correct(
    request: Request,
    sera: SeraDep,
    user: Corrector,
    customer_id: IdPath,
    name: Field = "",
    phone: Field = "",
    email: Field = "",
) -> Response:
    entered = {"name": name, "phone": phone, "email": email}
    try:
        fields = CorrectionIn.model_validate({k: v.strip() for k, v in entered.items() if v.strip()})
    except ValidationError as exc:
        errors = {str(e["loc"][0]): _problem(str(e["loc"][0]), e["msg"]) for e in exc.errors() if e["loc"]}
        return _profile_page(request, sera, user, customer_id, errors=errors, entered=entered, status_code=400)
    if not any(fields.model_dump().values()):
        errors = {"name": "enter the corrected name, phone or email"}
        return _profile_page(request, sera, user, customer_id, errors=errors, entered=entered, status_code=400)
    with sera.uow(user.merchant_id) as uow:
        try:
            correct_details(uow, customer_id, actor=user.actor, **fields.model_dump())
        except CustomerNotFoundError:
            raise PageNotFoundError from None
        uow.commit()
    return RedirectResponse(_detail_url(customer_id, "corrected"), status_code=303)


def _problem(field: str, message: str) -> str:
    if field == "phone":
        return "enter the number in international form, such as +13125550142"
    return message.removeprefix("Value error, ")


@router.post("/customers/{customer_id}/export")
def export(
    request: Request,
    sera: SeraDep,
    user: Exporter,
    customer_id: IdPath,
) -> Response:
    """The access export, made as the API makes it: a completed access request, its download audited."""
    with sera.uow(user.merchant_id) as uow:
        try:
            get_customer(uow, customer_id)
        except CustomerNotFoundError:
            raise PageNotFoundError from None
        access = record_privacy_request(
            uow, request_type="access", customer_id=customer_id, source=SOURCE, now=sera.clock(), actor=user.actor
        )
        uow.commit()
    complete_privacy_request(sera, user.merchant_id, access.id, actor=user.actor)
    with sera.uow(user.merchant_id) as uow:
        body = export_result(uow, access.id, actor=user.actor)
        uow.commit()
    headers = {"Content-Disposition": f'attachment; filename="{customer_id}.json"', "Cache-Control": "no-store"}
    return Response(body, media_type="application/json", headers=headers)


@router.post("/customers/{customer_id}/do-not-contact")
def do_not_contact(
    request: Request,
    sera: SeraDep,
    user: ContactListKeeper,
    customer_id: IdPath,
    listed: Annotated[str, Form(pattern="^(yes|no)$")],
) -> Response:
    with sera.uow(user.merchant_id) as uow:
        try:
            phone = get_customer(uow, customer_id).phone
        except CustomerNotFoundError:
            raise PageNotFoundError from None
        if not phone:
            errors = {"listed": "this customer has no phone number to list"}
            return _profile_page(request, sera, user, customer_id, errors=errors, status_code=400)
        try:
            if listed == "yes":
                record_objection(uow, phone, source=SOURCE, reason=None, actor=user.actor, now=sera.clock())
            else:
                withdraw_objection(uow, phone, actor=user.actor)
        except (InvalidPhoneError, DoNotContactNotFoundError):
            pass  # already off the list: what was asked holds
        uow.commit()
    return RedirectResponse(_detail_url(customer_id, "listed" if listed == "yes" else "unlisted"), status_code=303)


@router.get("/customers/{customer_id}/erase")
def erase_page(
    request: Request,
    sera: SeraDep,
    user: Eraser,
    customer_id: IdPath,
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            person = get_customer(reader, customer_id)
        except CustomerNotFoundError:
            raise PageNotFoundError from None
        held = held_data(reader, customer_id)
    return render(
        request,
        "dashboard/customers_erase.html",
        user=user,
        title="Erase a customer",
        zone=user.session.timezone,
        customer=person,
        held=held,
        confirmed=sessions.recently_reauthenticated(user.session, sera.clock()),
    )


@router.post("/customers/{customer_id}/erase")
def erase(
    request: Request,
    sera: SeraDep,
    user: Eraser,
    customer_id: IdPath,
) -> Response:
    """Erase as the API and Shopify's customers/redact do: a completed erasure request."""
    if not sessions.recently_reauthenticated(user.session, sera.clock()):
        raise ForbiddenError("enter your password again before erasing a customer")
    with sera.uow(user.merchant_id) as uow:
        try:
            get_customer(uow, customer_id)
        except CustomerNotFoundError:
            raise PageNotFoundError from None
        erasure = record_privacy_request(
            uow, request_type="erasure", customer_id=customer_id, source=SOURCE, now=sera.clock(), actor=user.actor
        )
        uow.commit()
    complete_privacy_request(sera, user.merchant_id, erasure.id, actor=user.actor)
    return RedirectResponse(f"{PREFIX}/customers?done=erased", status_code=303)
