"""Where a shop's orders come from: a connected store (Shopify) when there is one, else
the orders Sera keeps itself (from the shop file).

Connected sources are wired in by ``sera.bootstrap`` (``connect_source``), so every
process chooses a shop's orders the same way: the orders capability knows nothing of any
provider, only that a source may answer for a shop or decline. The registry is the
process's: the sources of the Sera bootstrapped last are the ones that answer.
"""

from __future__ import annotations

from collections.abc import Callable

from sera.orders.local import LocalOrders
from sera.orders.ports import OrdersPort
from sera.storage.database import UnitOfWork

# Given a shop's unit of work: a port reading that shop's orders, or None if not connected.
Source = Callable[[UnitOfWork], OrdersPort | None]

_sources: dict[str, Source] = {}


def connect_source(name: str, source: Source) -> None:
    """Make a provider's orders available to every shop connected to it (replaces one of the same name)."""
    _sources[name] = source


def disconnect_source(name: str) -> None:
    _sources.pop(name, None)


def orders_for(uow: UnitOfWork) -> OrdersPort:
    """The shop's orders: the first connected source that answers for it, else the local ones."""
    for source in list(_sources.values()):
        port = source(uow)
        if port is not None:
            return port
    return LocalOrders(uow)
