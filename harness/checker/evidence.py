"""The plain records the checker judges: one ``IdEvidence`` per id, and what a reader found besides.

A reader (``harness.checker.reading``) turns the run directory's files into an ``Evidence``;
the checkers (``harness.checker.checkers``) read nothing else. Everything here is data: the
meaning of a history line, of a SUT row and of a provider record is fixed by these types and by
``parse_history_line``, which every reader follows.

What a history line means (DESIGN.md section 5), whatever its key order, spacing or number form:

- a JSON object with ``type`` one of ``invoke ok fail info``, ``op`` a string and ``id`` a
  string; anything else is damage (``HistoryDamage``), and damage makes the verdict ``unknown``;
- for ``op`` ``order`` or ``payout`` (the writes), ``value`` is absent, null or an object whose
  ``amount_minor`` is absent, null or a number whose exact value is a whole number within 64 bits
  (``1000``, ``1000.0`` and ``1e3`` are the same amount; ``1.0000000000000000001`` and ``2**64`` are
  none, never rounded to one: ``amount_value``) and whose ``currency`` is absent, null or a string;
  other ops are reads and only their ``type``, ``op`` and ``id`` are looked at;
- a line is JSON as ``harness.checker.jsontext`` reads it: strictly (no ``NaN``, no bytes that are not
  UTF-8, not nested too deep), and a key the checker reads given twice in one object is damage;
- the last line of a file, when it has no newline and is not a valid event, is a torn write (the
  process died while writing it) and is ignored, as if it had never been written; it is counted
  in ``Evidence.torn`` so the report can say so. Any other line that is not valid is damage,
  named by file and line;
- an id with more completions than invokes is damage (a completion needs its invoke).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from harness.checker.model import Counts, Kind
from harness.load.history import EventType, Op

Key = tuple[Kind, str]
EventsFor = Callable[[Collection[Key]], dict[Key, list[dict[str, Any]]]]

# The history format is harness.load.history's: the load generator writes with it, the checker reads with it.
EVENT_TYPES = tuple(kind.value for kind in EventType)
COMPLETIONS = tuple(kind.value for kind in EventType if kind is not EventType.INVOKE)
WRITE_OPS = {Op.ORDER.value: Kind.ORDER, Op.PAYOUT.value: Kind.PAYOUT}
_INT64 = 1 << 63  # an amount is a signed 64-bit integer: what a SUT's bigint column and DuckDB's BIGINT hold


class SutRow(NamedTuple):
    """One row of the target's state SQL, status already in contract names."""

    status: str
    amount_minor: int | None
    currency: str | None = None


class ProviderRecord(NamedTuple):
    """One provider ledger record (several for one merchant id means a duplicate charge)."""

    provider_id: str
    status: str
    amount_minor: int | None
    currency: str | None = None


class ForgedClaim(NamedTuple):
    """One forged or replayed callback the ``forged_callbacks`` fault sent."""

    claim: str
    how: str
    http_status: int | None


class ClientSummary(NamedTuple):
    """Every submission of one id: how many, how each ended, the distinct amounts and currencies sent.

    ``amounts`` and ``currencies`` are sorted, ``None`` (not sent) first.
    """

    invokes: int
    ok: int
    fail: int
    info: int
    amounts: tuple[int | None, ...]
    currencies: tuple[str | None, ...]

    @property
    def unknown(self) -> int:
        """Submissions whose outcome the client never learned: ``info``, or no completion at all."""
        return self.invokes - self.ok - self.fail


class IdEvidence(NamedTuple):
    """Everything known of one id: the client's submissions, every SUT row, every provider record."""

    kind: Kind
    id: str
    client: ClientSummary | None
    sut: tuple[SutRow, ...] = ()
    provider: tuple[ProviderRecord, ...] = ()
    forged: tuple[ForgedClaim, ...] = ()


class HistoryDamage(NamedTuple):
    """A history line that is not a valid event (or an id whose completions outnumber its invokes)."""

    file: str
    line: int | None
    what: str


@dataclass
class MoneySums:
    """Per flow and currency: what moved at the provider (duplicates included) and in the SUT.

    ``sut_minor`` is None when a SUT row in which money moved has no amount.
    """

    provider_minor: int = 0
    sut_minor: int | None = 0


@dataclass
class Evidence:
    """What a reader hands the checkers.

    ``judged`` holds every id the reader could not prove clean (``is_clean``), ``clean`` how many
    it proved clean per flow; a reader may put clean ids in ``judged`` too, the verdict is the same.
    A flow whose SUT state or ledger cannot be read (a row that is not JSON, a missing column) is
    in ``unreadable`` with the reason, and none of its ids are judged; the other flow still is.
    """

    judged: list[IdEvidence]
    clean: Mapping[Kind, int]
    money: Mapping[tuple[Kind, str | None], MoneySums]
    counts: Counts
    acknowledged: Mapping[Kind, int]
    damage: list[HistoryDamage] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)
    unreadable: Mapping[Kind, str] = field(default_factory=dict)  # flows whose state could not be read: why
    events_for: EventsFor = field(default=lambda keys: no_events(keys))


@dataclass(frozen=True)
class EvidenceFiles:
    """The files a reader reads (``RunDir.evidence_files`` gives those of a run directory)."""

    history: tuple[Path, ...]
    sut: Mapping[Kind, Path]
    provider: Mapping[Kind, Path]
    forged: Path | None = None
    root: Path | None = None  # files are named relative to it in what a reader reports

    def name(self, path: Path) -> str:
        """How a reader names ``path``: inside the run directory, so a moved directory reads the same."""
        if self.root is not None and path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        return str(path)


def no_events(keys: Collection[Key]) -> dict[Key, list[dict[str, Any]]]:
    """``Evidence.events_for`` of evidence built without a history to read from."""
    return {key: [] for key in keys}


def amount_value(value: object) -> tuple[bool, int | None]:
    """(valid, amount) of an ``amount_minor``: absent (None), or a whole number within 64 bits, exactly.

    Exactly: an ``int``, or a real decoded without rounding (a ``Decimal``, as
    ``harness.checker.jsontext.decode`` gives the numbers it is asked to keep exact), so ``1e3`` and
    ``1000.0`` are 1000 while ``1.0000000000000000001`` and ``2**64`` are no amount. A float is never
    one: it has lost its JSON text (``100000000000000000001`` and ``1e20`` are the same float), and an
    amount rounded on the way in would make a mismatch look like agreement.

    >>> amount_value(Decimal("1E+3")), amount_value(2 ** 64), amount_value(1000.0)
    ((True, 1000), (False, None), (False, None))
    """
    if value is None:
        return True, None
    if type(value) is Decimal:
        if not value.is_finite() or not -_INT64 <= value < _INT64 or value != value.to_integral_value():
            return False, None
        value = int(value)
    if type(value) is int and -_INT64 <= value < _INT64:
        return True, value
    return False, None


def parse_history_line(event: object) -> tuple[str, str, str, int | None, str | None] | str:
    """A decoded history line as ``(type, op, id, amount, currency)``, or what is wrong with it.

    >>> parse_history_line({"type": "invoke", "op": "order", "id": "o1", "value": {"amount_minor": Decimal("1e3")}})
    ('invoke', 'order', 'o1', 1000, None)
    >>> parse_history_line({"type": "done", "op": "order", "id": "o1"})
    "expected type one of invoke, ok, fail, info, got 'done'"
    """
    if type(event) is not dict:
        return f"expected a JSON object, got {type(event).__name__}"
    kind, op, op_id = event.get("type"), event.get("op"), event.get("id")
    if kind not in EVENT_TYPES:
        return f"expected type one of {', '.join(EVENT_TYPES)}, got {kind!r}"
    if type(op) is not str:
        return f"expected op to be a string, got {op!r}"
    if type(op_id) is not str:
        return f"expected id to be a string, got {op_id!r}"
    if op not in WRITE_OPS:
        return kind, op, op_id, None, None
    value = event.get("value")
    if value is None:
        return kind, op, op_id, None, None
    if type(value) is not dict:
        return f"expected value to be an object, got {value!r}"
    valid, amount = amount_value(value.get("amount_minor"))
    if not valid:
        return f"expected value.amount_minor to be a whole number within 64 bits, got {value.get('amount_minor')!r}"
    currency = value.get("currency")
    if currency is not None and type(currency) is not str:
        return f"expected value.currency to be a string, got {currency!r}"
    return kind, op, op_id, amount, currency


def money_currency(row: SutRow, evidence: IdEvidence) -> str | None:
    """The currency a SUT row's money is counted in: its own, else what the client sent, else the provider's."""
    if row.currency is not None:
        return row.currency
    client = evidence.client
    if client is not None and len(client.currencies) == 1 and client.currencies[0] is not None:
        return client.currencies[0]
    for record in evidence.provider:
        if record.currency is not None:
            return record.currency
    return None


def is_clean(evidence: IdEvidence) -> bool:
    """The common case, which no checker reports: acknowledged, one SUT row and one provider record in
    the same terminal status, one amount and one currency everywhere, no forged claim.

    A fast reader may count such ids instead of handing them over (``Evidence.clean``); the judge
    reports nothing for them (``tests/unit/test_checker_judge.py`` proves it on generated evidence).
    """
    client = evidence.client
    if client is None or not client.ok or len(evidence.sut) != 1 or len(evidence.provider) != 1 or evidence.forged:
        return False
    if len(client.amounts) != 1 or client.amounts[0] is None or len(client.currencies) != 1:
        return False
    sut, record = evidence.sut[0], evidence.provider[0]
    kind = evidence.kind
    if sut.status != record.status or sut.status not in (kind.success, kind.refusal):
        return False
    if not sut.amount_minor == record.amount_minor == client.amounts[0]:
        return False
    currency = client.currencies[0]
    return record.currency == currency and (sut.currency is None or sut.currency == currency)


def add_money(money: dict[tuple[Kind, str | None], MoneySums], evidence: IdEvidence) -> None:
    """Add what ``evidence`` moved to ``money``, per flow and currency: every provider record that moved money
    (duplicates included) and every SUT row in the flow's success status (counted in ``money_currency``)."""
    kind = evidence.kind
    for record in evidence.provider:
        if record.status == kind.success:
            sums = money.setdefault((kind, record.currency), MoneySums())
            sums.provider_minor += record.amount_minor or 0
    for row in evidence.sut:
        if row.status == kind.success:
            sums = money.setdefault((kind, money_currency(row, evidence)), MoneySums())
            sums.sut_minor = None if sums.sut_minor is None or row.amount_minor is None \
                else sums.sut_minor + row.amount_minor
