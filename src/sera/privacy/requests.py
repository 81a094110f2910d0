"""Carrying out data-subject requests: access, erasure, correction, objection.

Each completion is one audited step; an unknown customer completes as a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from sera import audit
from sera.bootstrap import Sera
from sera.customers.service import CustomerNotFoundError, add_do_not_contact, correct_customer, get_customer
from sera.integrations.events import emit
from sera.privacy.erasure import redact_customer
from sera.privacy.export import export_json
from sera.privacy.service import PrivacyRequestError, load_request


@dataclass(frozen=True)
class Correction:
    name: str | None = None
    phone: str | None = None
    email: str | None = None


def complete_privacy_request(
    sera: Sera, merchant_id: str, request_id: str, *, actor: str, correction: Correction | None = None
) -> str:
    """Do what the request asks and mark it completed; returns what was done."""
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        request = load_request(uow, request_id)
        if request.status != "pending":
            raise PrivacyRequestError(f"the request is already {request.status}")
        customer_id, kind = request.customer_id, request.type
        done = "no customer data held: nothing to do"
        if customer_id is not None:
            try:
                if kind == "access":
                    uow.vault.seal(request, result=export_json(uow, customer_id))
                    done = "export ready"
                elif kind == "objection":
                    number = get_customer(uow, customer_id).phone
                    if number:
                        add_do_not_contact(uow, number, source="privacy_request", now=now)
                    done = "added to do-not-contact"
                elif kind == "correction":
                    if correction is None or not any(vars(correction).values()):
                        raise PrivacyRequestError("a correction needs the corrected name, phone or email")
                    correct_customer(uow, customer_id, **vars(correction))
                    done = "corrected"
            except CustomerNotFoundError:
                customer_id = None
        request.status = "completed"
        request.completed_at = now
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="privacy_request.completed",
            target_type="privacy_request",
            target_id=request.id,
            details={"type": kind, "customer_found": customer_id is not None},
            at=now,
        )
        emit(uow, "privacy_request.completed", {"id": request.id, "type": kind, "customer_id": customer_id})
        uow.commit()
    if kind == "erasure" and customer_id is not None:
        redact_customer(sera, merchant_id, customer_id, actor=actor)
        done = "erased"
    return done
