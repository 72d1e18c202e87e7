"""Faults of identity and signature (1.4.1, 1.4.2) as one table for both directions.

The same rows drive ``crm.sign.*``/``crm.identity.*`` (the suite as the PBX,
sending ``call_events``) and ``pbx.sign.*``/``pbx.identity.*`` (the suite as the
CRM, sending ``call_back`` and ``get_record``): both sides are held to refusing
the same forgeries (after h11, whose one table of cases drives writer and reader).

A row turns a correctly signed request into the faulted one. Its ``kind`` says
what a receiver that accepts the faulted request has done:

* ``forgery`` -- the request can be made without the key: accepting it trusts a
  forged request;
* ``key-holder`` -- the signature is right for the configured client id and the
  key, only the identity header is off: only the key holder can send it, so
  accepting it is lenient, not a breach (docs/DECISIONS.md D6);
* ``reading`` -- the guide does not say (uppercase hex, D5): the choice is
  recorded.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from conformance.spec import signing

Kind = Literal["forgery", "key-holder", "reading"]
Family = Literal["sign", "identity"]


@dataclass(frozen=True)
class Request:
    """A correctly signed request: whose it is and what the signature covers.

    ``data`` is what ``X-Client-Sign`` covers (the body, or a GET's query string,
    D21); ``body`` is what is sent as the body. ``altered`` is ``data`` with one
    value changed and ``respelled`` the same value in other bytes, where the
    request has them (None: the row does not apply).
    """

    client_id: str
    key: str = field(repr=False)
    data: bytes
    body: bytes
    altered: bytes | None = None
    respelled: bytes | None = None

    def sign(self, data: bytes | None = None, *, client_id: str | None = None) -> str:
        return signing.sign(
            self.client_id if client_id is None else client_id,
            self.data if data is None else data,
            self.key,
        )


@dataclass(frozen=True)
class Faulted:
    """What goes on the wire: ``None`` for a header means it is left out.

    ``signed_correctly``: the row kept the correct signature of what is sent (only the
    identity header is off). ``mutation``: the row's name (``Mutation.label``).
    """

    client_id: str | None
    sign: str | None
    body: bytes
    signed_correctly: bool = False
    mutation: str = ""


@dataclass(frozen=True)
class Mutation:
    family: Family
    name: str
    variant: str  # "" when the row has a single form
    kind: Kind
    title: str
    requirement: str
    section: str
    make: Callable[[Request], Faulted | None]

    @property
    def base_id(self) -> str:
        """``sign.altered``: the side prefixes its own (``crm.``, ``pbx.``)."""
        return f"{self.family}.{self.name}"

    @property
    def label(self) -> str:
        """The row's name, as a request made with it records it: ``sign.altered[first-digit]``."""
        return f"{self.base_id}[{self.variant}]" if self.variant else self.base_id

    def apply(self, request: Request) -> Faulted | None:
        """``request`` with this row's fault, naming it; None where the row does not apply."""
        faulted = self.make(request)
        return None if faulted is None else dataclasses.replace(faulted, mutation=self.label)

    @property
    def fault(self) -> str:
        """The fault as a noun phrase, for findings: "a truncated signature (half)"."""
        phrase = FAULTS[self.base_id]
        return f"{phrase} ({self.variant})" if self.variant else phrase


def foreign_id(own: str) -> str:
    """A client id that is not ``own`` but looks like one (hex, same length)."""
    candidate = hashlib.md5(own.encode(), usedforsecurity=False).hexdigest().upper()
    return candidate if candidate != own else candidate[::-1]


def other_key(key: str) -> str:
    """A key that is not ``key`` but looks like one."""
    candidate = hashlib.sha256(key.encode()).hexdigest()[:32].upper()
    return candidate if candidate != key else candidate[::-1]


def flip(sign: str, position: int) -> str:
    """``sign`` with the hex digit at ``position`` changed."""
    swapped = "0" if sign[position] != "0" else "1"
    return sign[:position] + swapped + sign[position + 1 :]


ORDERS: dict[str, Callable[[str, bytes, str], bytes]] = {
    "key-body-id": lambda cid, body, key: key.encode() + body + cid.encode(),
    "body-id-key": lambda cid, body, key: body + cid.encode() + key.encode(),
    "id-key-body": lambda cid, body, key: cid.encode() + key.encode() + body,
    "key-body": lambda cid, body, key: key.encode() + body,
    "id-body": lambda cid, body, key: cid.encode() + body,
}


def _signed(sign: Callable[[Request], str]) -> Callable[[Request], Faulted]:
    """A row that only replaces the signature."""
    return lambda r: Faulted(r.client_id, sign(r), r.body)


def _altered(r: Request) -> Faulted | None:
    return None if r.altered is None else Faulted(r.client_id, r.sign(), r.altered)


def _respelled(r: Request) -> Faulted | None:
    return None if r.respelled is None else Faulted(r.client_id, r.sign(), r.respelled)


def _flipped(r: Request, *, position: int) -> str:
    return flip(r.sign(), position)


def _truncated(r: Request, *, length: int) -> str:
    return r.sign()[:length]


def _order(name: str) -> Callable[[Request], str]:
    return lambda r: hashlib.sha256(ORDERS[name](r.client_id, r.data, r.key)).hexdigest()


_FORGED = "A request whose X-Client-Sign is not sha256hex(client_id + data + key) is refused"
_POSITIONS = {"first-digit": 0, "middle-digit": 31, "last-digit": 63}

TABLE: tuple[Mutation, ...] = (
    Mutation(
        "sign",
        "missing",
        "",
        "forgery",
        "A request without X-Client-Sign is refused",
        "A request that carries no X-Client-Sign header is not acted on.",
        "1.4.2",
        lambda r: Faulted(r.client_id, None, r.body),
    ),
    Mutation(
        "sign",
        "empty",
        "",
        "forgery",
        "An empty X-Client-Sign is refused",
        "A request whose X-Client-Sign is empty is not acted on.",
        "1.4.2",
        _signed(lambda r: ""),
    ),
    *(
        Mutation(
            "sign",
            "altered",
            variant,
            "forgery",
            "A signature with one digit changed is refused",
            "A signature that differs from the computed one in a single hex digit is refused.",
            "1.4.2",
            _signed(functools.partial(_flipped, position=position)),
        )
        for variant, position in _POSITIONS.items()
    ),
    *(
        Mutation(
            "sign",
            "truncated",
            variant,
            "forgery",
            "A truncated signature is refused",
            "A prefix of the correct signature is not a correct signature.",
            "1.4.2",
            _signed(functools.partial(_truncated, length=length)),
        )
        for variant, length in (("half", 32), ("one-short", 63))
    ),
    Mutation(
        "sign",
        "extended",
        "",
        "forgery",
        "A signature with extra digits is refused",
        "The correct signature followed by more characters is not a correct signature.",
        "1.4.2",
        _signed(lambda r: r.sign() + "00"),
    ),
    Mutation(
        "sign",
        "wrong-key",
        "",
        "forgery",
        "A signature made with another key is refused",
        "A request signed with a key other than the client's is refused.",
        "1.4.2",
        _signed(lambda r: signing.sign(r.client_id, r.data, other_key(r.key))),
    ),
    *(
        Mutation(
            "sign",
            "wrong-order",
            order,
            "forgery",
            "A signature over the parts in another order is refused",
            "Only sha256hex(client_id + json + key), in that order, is a valid signature.",
            "1.4.1",
            _signed(_order(order)),
        )
        for order in sorted(ORDERS)
    ),
    Mutation(
        "sign",
        "body-altered",
        "",
        "forgery",
        "A body changed after signing is refused",
        "A request whose body differs from the signed one in one value is refused.",
        "1.4.2",
        _altered,
    ),
    Mutation(
        "sign",
        "body-respaced",
        "",
        "forgery",
        "A body re-spaced after signing is refused",
        "The signature covers the raw bytes: the same JSON value in other bytes does not "
        "carry the original signature.",
        "1.4.2",
        _respelled,
    ),
    Mutation(
        "sign",
        "uppercase-hex",
        "",
        "reading",
        "Uppercase hex digits in the signature (recorded, not graded)",
        "The guide prints lowercase hex and does not say whether uppercase is accepted; "
        "the receiver's choice is recorded.",
        "1.4.2",
        _signed(lambda r: r.sign().upper()),
    ),
    Mutation(
        "identity",
        "missing",
        "",
        "key-holder",
        "A request without X-Client-ID is refused",
        "Every request carries X-Client-ID (1.4.1); one without it is not acted on, although "
        "only the key holder can sign it (accepting it is non-strict).",
        "1.4.1",
        lambda r: Faulted(None, r.sign(), r.body, signed_correctly=True),
    ),
    Mutation(
        "identity",
        "empty",
        "",
        "key-holder",
        "An empty X-Client-ID is refused",
        "A request whose X-Client-ID is empty is not acted on, although only the key holder "
        "can sign it (accepting it is non-strict).",
        "1.4.1",
        lambda r: Faulted("", r.sign(), r.body, signed_correctly=True),
    ),
    Mutation(
        "identity",
        "foreign",
        "",
        "key-holder",
        "Another client's X-Client-ID with our signature is refused",
        "A request whose X-Client-ID is not the client's is not acted on, although only the "
        "key holder can sign it (accepting it is non-strict).",
        "1.4.1",
        lambda r: Faulted(foreign_id(r.client_id), r.sign(), r.body, signed_correctly=True),
    ),
    Mutation(
        "identity",
        "foreign-signed",
        "",
        "key-holder",
        "Another client's X-Client-ID, signed over that id, is refused",
        "The receiver verifies against the client id it was configured with, not the one the "
        "request claims; only the key holder can sign this (accepting it is non-strict).",
        "1.4.1",
        lambda r: Faulted(
            foreign_id(r.client_id), r.sign(client_id=foreign_id(r.client_id)), r.body
        ),
    ),
    Mutation(
        "identity",
        "none",
        "",
        "forgery",
        "A request with neither header is refused",
        "A request with no X-Client-ID and no X-Client-Sign is not acted on.",
        "1.4.1",
        lambda r: Faulted(None, None, r.body),
    ),
)

FAULTS: dict[str, str] = {
    "sign.missing": "a request without X-Client-Sign",
    "sign.empty": "an empty X-Client-Sign",
    "sign.altered": "a signature with one digit changed",
    "sign.truncated": "a truncated signature",
    "sign.extended": "a signature with extra digits",
    "sign.wrong-key": "a signature made with another key",
    "sign.wrong-order": "a signature over the parts in another order",
    "sign.body-altered": "a body changed after signing",
    "sign.body-respaced": "a body re-spaced after signing",
    "sign.uppercase-hex": "a signature in uppercase hex",
    "identity.missing": "a request without X-Client-ID",
    "identity.empty": "an empty X-Client-ID",
    "identity.foreign": "another client's X-Client-ID",
    "identity.foreign-signed": "another client's X-Client-ID, signed over that id",
    "identity.none": "a request with neither X-Client-ID nor X-Client-Sign",
}

#: The table's base ids (``sign.altered``), each with its rows.
BY_BASE: dict[str, tuple[Mutation, ...]] = {}
for _row in TABLE:
    BY_BASE[_row.base_id] = (*BY_BASE.get(_row.base_id, ()), _row)
