"""Risk that only labels reveal: confirmed fraud at a merchant, and on a card, known late.

A compromised terminal shows up in no one card holder's behaviour, only in how many
of the merchant's recent transactions were later confirmed fraudulent; a stolen card
used again shows up only once its earlier fraud is confirmed. Labels arrive late (an
analyst within hours, a chargeback weeks later), so every figure here is taken *as
known at the transaction's own event time*: a label counts for a transaction only if
its ``labelled_at`` is at or before that time. Labels are kept with their time, and
filtered when read, so the order in which labels and transactions reach this state
changes nothing: the stream and replay agree whatever interleaving they saw.

Merchant figures are over whole UTC days before the transaction's own day (the 1, 7,
14 and 30 days to it), so the transactions counted are those of days already over,
whatever order a day's transactions come in. Those counts say what a terminal was; its
latest verdicts (the last day's and week's, by when they became known) say what it is
now: on the handbook's months, a terminal whose four weeks of skimming had ended kept
scoring high on its month of confirmed frauds until its genuine verdicts came in.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fraud.domain.transaction import Transaction
from fraud.domain.windows import DAY

# A fortnight reaches past a week's label delay: the frauds of days whose verdicts are in, which
# the 7 days mostly are not, and which the 30 days hold alongside a month-old run long over.
RISK_DAYS = (1, 7, 14, 30)
CountKey = tuple[str, int, int]  # merchant, day, shard
# How long a confirmed fraud on a card still says something about the card.
CARD_MEMORY = 90 * DAY
# Day buckets older than the longest window, plus the day in progress, are dropped.
KEPT_DAYS = max(RISK_DAYS) + 1
# How far back a merchant's confirmed frauds are looked for: what its fraud ages say when
# it has none.
MERCHANT_MEMORY = max(RISK_DAYS) * DAY
# The windows of the merchant's latest verdicts, by when they became known: what the labels
# say of the terminal now, whatever the labels' delay.
VERDICT_DAYS = (1, 7)


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """A label as the features see it: the verdict, when it became known, and where the
    labelled transaction belongs (its card, its merchant, its event time)."""

    transaction_id: str
    is_fraud: bool
    labelled_at: float
    user_id: str
    merchant: str
    event_at: float

    @classmethod
    def of(cls, transaction: Transaction, is_fraud: bool, labelled_at: datetime) -> LabelEvent:
        return cls(
            transaction.transaction_id,
            is_fraud,
            labelled_at.timestamp(),
            transaction.user_id,
            transaction.merchant,
            transaction.timestamp.timestamp(),
        )


@dataclass(frozen=True, slots=True)
class KnownLabel:
    """A row of a label file (chargebacks, a case system's export): which transaction, the
    verdict, and when it became known."""

    transaction_id: str
    is_fraud: bool
    labelled_at: datetime


def label_events(
    transactions: Iterable[Transaction], labels: Iterable[KnownLabel]
) -> tuple[list[LabelEvent], int]:
    """The labels of the given transactions as events; and how many labels named a
    transaction not among them (left out)."""
    by_id = {transaction.transaction_id: transaction for transaction in transactions}
    events, unknown = [], 0
    for label in labels:
        transaction = by_id.get(label.transaction_id)
        if transaction is None:
            unknown += 1
            continue
        events.append(LabelEvent.of(transaction, label.is_fraud, label.labelled_at))
    return events, unknown


@dataclass(slots=True)
class _Verdicts:
    """One transaction's labels in the order they became known; the last one known at a
    moment is what the transaction was then."""

    event_at: float
    known_at: list[float] = field(default_factory=list)
    frauds: list[bool] = field(default_factory=list)

    def learn(self, labelled_at: float, is_fraud: bool) -> None:
        where = bisect.bisect_right(self.known_at, labelled_at)
        if where and self.known_at[where - 1] == labelled_at and self.frauds[where - 1] == is_fraud:
            return  # the same label again (a redelivered event)
        self.known_at.insert(where, labelled_at)
        self.frauds.insert(where, is_fraud)

    def fraud_at(self, at: float) -> bool:
        known = bisect.bisect_right(self.known_at, at)
        return known > 0 and self.frauds[known - 1]


@dataclass(slots=True)
class MerchantRisk:
    """A merchant's transactions per day (event time), and those of its transactions ever
    labelled fraud, with their labels."""

    days: dict[int, int] = field(default_factory=dict)
    labelled: dict[str, _Verdicts] = field(default_factory=dict)
    # Every verdict on its purchases (genuine ones too), as (labelled_at, transaction_id,
    # is_fraud) in the order they became known; the same verdict again is kept once. And how
    # many of the verdicts up to each say fraud, so that a window's share costs two lookups
    # however busy the merchant (labels mostly come in time order: an append).
    verdicts: list[tuple[float, str, bool]] = field(default_factory=list)
    _frauds_to: list[int] = field(default_factory=list, init=False)
    # The window counts of the day last asked for: every purchase of a day asks the same,
    # until a count lands in one of the days they cover (a late arrival).
    _window_day: int | None = field(default=None, init=False)
    _windows: tuple[int, ...] = field(default=(), init=False)

    def add(self, day: int, count: int) -> None:
        self.days[day] = self.days.get(day, 0) + count
        if self._window_day is not None and day < self._window_day:
            self._window_day = None

    def windows(self, today: int) -> tuple[int, ...]:
        """The purchases of the 1, 7, 14, 30... whole days before ``today``."""
        if self._window_day != today:
            days = self.days
            counted, running, back = [], 0, 0
            for span in RISK_DAYS:
                while back < span:
                    back += 1
                    running += days.get(today - back, 0)
                counted.append(running)
            self._window_day, self._windows = today, tuple(counted)
        return self._windows

    def hear(self, label: LabelEvent) -> None:
        """A verdict on one of its purchases, kept once however often it is heard."""
        verdict = (label.labelled_at, label.transaction_id, label.is_fraud)
        verdicts, frauds_to = self.verdicts, self._frauds_to
        where = bisect.bisect_left(verdicts, verdict)
        if where < len(verdicts) and verdicts[where] == verdict:
            return
        fraud = int(label.is_fraud)
        verdicts.insert(where, verdict)
        frauds_to.insert(where, (frauds_to[where - 1] if where else 0) + fraud)
        if fraud:
            for i in range(where + 1, len(frauds_to)):
                frauds_to[i] += 1

    def verdict_windows(self, at: float) -> tuple[tuple[int, float], ...]:
        """Per VERDICT_DAYS: the verdicts that became known in that span to ``at``, and the
        share of them that say fraud (0 with none)."""
        verdicts = self.verdicts
        end = bisect.bisect_right(verdicts, at, key=_known_at)
        found = []
        for span in VERDICT_DAYS:
            start = bisect.bisect_right(verdicts, at - span * DAY, lo=0, hi=end, key=_known_at)
            heard = end - start
            frauds = self._frauds_before(end) - self._frauds_before(start)
            found.append((heard, frauds / heard if heard else 0.0))
        return tuple(found)

    def _frauds_before(self, end: int) -> int:
        return self._frauds_to[end - 1] if end else 0

    def forget_before(self, oldest_day: int) -> None:
        for day in [day for day in self.days if day < oldest_day]:
            del self.days[day]
        forgotten = bisect.bisect_left(self.verdicts, oldest_day * DAY, key=_known_at)
        if forgotten:
            gone = self._frauds_before(forgotten)
            del self.verdicts[:forgotten]
            self._frauds_to = [count - gone for count in self._frauds_to[forgotten:]]
        for transaction_id in [
            t for t, verdicts in self.labelled.items() if day_of(verdicts.event_at) < oldest_day
        ]:
            del self.labelled[transaction_id]
        self._window_day = None


@dataclass(frozen=True, slots=True)
class RiskFigures:
    """What labels known at a transaction's time say about its merchant and its card."""

    merchant_transactions: tuple[int, ...]  # one per RISK_DAYS
    merchant_frauds: tuple[int, ...]
    card_frauds: int  # the card's transactions confirmed fraudulent, known by now
    since_card_fraud: float  # seconds since the latest of them (CARD_MEMORY if none)
    # Seconds since the earliest of them: how long the card has been in fraudsters' hands.
    since_first_card_fraud: float = CARD_MEMORY
    # Seconds since the merchant's latest and earliest purchases confirmed fraud, of those
    # within MERCHANT_MEMORY (MERCHANT_MEMORY if none): a terminal skimmed since a given day
    # stays so for weeks, while one fraud among its purchases says little.
    since_merchant_fraud: float = MERCHANT_MEMORY
    since_first_merchant_fraud: float = MERCHANT_MEMORY
    # Seconds since the end of the merchant's latest day of purchases before the day of that
    # earliest fraud (MERCHANT_MEMORY if none): its frauds began after that day, so this is
    # how long they can have gone on at most, where the earliest fraud gives the least. A
    # quiet terminal's first confirmed fraud may come days after its compromise began.
    since_merchant_clean_day: float = MERCHANT_MEMORY
    # Per VERDICT_DAYS: the merchant's verdicts that became known in the span to the
    # transaction, and the share of them confirming fraud. A skimmed terminal's latest
    # verdicts are frauds; once the skimming ends they turn genuine, while its counts of
    # purchases confirmed fraud stay high for weeks.
    merchant_verdicts: tuple[tuple[int, float], ...] = ((0, 0.0),) * len(VERDICT_DAYS)


_NONE = (0,) * len(RISK_DAYS)
NO_RISK_KNOWN = RiskFigures(_NONE, _NONE, 0, CARD_MEMORY)


def _known_at(verdict: tuple[float, str, bool]) -> float:
    return verdict[0]


def day_of(at: float) -> int:
    return math.floor(at / DAY)


def day_label(day: int) -> str:
    """The day's date, as a reason names it: "3 Jun"."""
    return f"{datetime.fromtimestamp(day * DAY, UTC):%-d %b}"


def _since_clean_day(known: MerchantRisk | None, fraud_day: int, today: int, at: float) -> float:
    """Seconds from the end of the merchant's latest day with purchases before ``fraud_day``
    (none of them confirmed fraud, ``fraud_day`` holding its earliest), within its memory;
    MERCHANT_MEMORY if it had none. Only whole days before today count, as for its windows."""
    if known is None:
        return MERCHANT_MEMORY
    oldest = today - max(RISK_DAYS)
    for day in range(min(fraud_day, today) - 1, oldest - 1, -1):
        if known.days.get(day, 0) > 0:
            return min(at - (day + 1) * DAY, MERCHANT_MEMORY)
    return MERCHANT_MEMORY


class LabelRisk:
    """Merchant and card risk from labels, updated by transactions and label events.

    Per transaction, only labels that ever say fraud are kept (a transaction labelled
    legitimate and never anything else counts as what it already is: not a fraud); a
    merchant's verdicts, genuine ones too, are kept as a list of when each became known, for
    the share of its latest verdicts that confirm fraud. Day buckets, labels and verdicts
    expire with the longest window.
    """

    def __init__(self) -> None:
        self.merchants: dict[str, MerchantRisk] = {}
        self.cards: dict[str, dict[str, _Verdicts]] = {}
        # Each day's count per shard (the part of the stream it came from: a partition), so
        # that a state store can write down each part's own; and those changed since the
        # last take_changes.
        self._shares: dict[CountKey, int] = {}
        self._changed: set[CountKey] = set()

    def figures(self, user_id: str, merchant: str, at: float) -> RiskFigures:
        """The figures for a transaction at ``at``, from labels known by then."""
        today = day_of(at)
        known = self.merchants.get(merchant)
        transactions = frauds = _NONE
        recent: list[float] = []  # ages of the merchant's confirmed frauds in its memory
        if known is not None:
            transactions = known.windows(today)
            if known.labelled:
                confirmed = [v.event_at for v in known.labelled.values() if v.fraud_at(at)]
                fraud_days = [today - day_of(event_at) for event_at in confirmed]
                frauds = tuple(
                    sum(1 for back in fraud_days if 1 <= back <= span) for span in RISK_DAYS
                )
                # Strictly earlier purchases within the merchant's memory, as for a card.
                recent = [at - e for e in confirmed if 0 < at - e < MERCHANT_MEMORY]
        latest_verdicts = NO_RISK_KNOWN.merchant_verdicts
        if known is not None and known.verdicts:
            latest_verdicts = known.verdict_windows(at)
        clean_day = MERCHANT_MEMORY
        if recent:
            clean_day = _since_clean_day(known, day_of(at - max(recent)), today, at)
        card_frauds, since, since_first = 0, CARD_MEMORY, 0.0
        for verdicts in self.cards.get(user_id, {}).values():
            # Strictly earlier purchases, within the card's memory (so that expiry, which the
            # stream does and replay need not, changes nothing).
            age = at - verdicts.event_at
            if 0 < age < CARD_MEMORY and verdicts.fraud_at(at):
                card_frauds += 1
                since = min(since, age)
                since_first = max(since_first, age)
        return RiskFigures(
            transactions,
            frauds,
            card_frauds,
            since,
            since_first if card_frauds else CARD_MEMORY,
            min(recent, default=MERCHANT_MEMORY),
            max(recent, default=MERCHANT_MEMORY),
            clean_day,
            latest_verdicts,
        )

    def count(self, merchant: str, at: float, shard: int = 0) -> None:
        """A transaction at the merchant: it counts from the next day on."""
        day = day_of(at)
        self.merchants.setdefault(merchant, MerchantRisk()).add(day, 1)
        key = (merchant, day, shard)
        self._shares[key] = self._shares.get(key, 0) + 1
        self._changed.add(key)

    def recount(self, merchant: str, at: float, shard: int) -> None:
        """A transaction counted already, handled again (a batch retried): its day's count is
        written down again, unchanged."""
        key = (merchant, day_of(at), shard)
        if key in self._shares:
            self._changed.add(key)

    def take_changes(self) -> dict[CountKey, int | None]:
        """The day counts changed since the last call, per shard (``None``: forgotten)."""
        changes = {key: self._shares.get(key) for key in self._changed}
        self._changed.clear()
        return changes

    def load_count(self, merchant: str, day: int, shard: int, count: int) -> None:
        """Take a shard's count of a merchant's day from a state store."""
        key = (merchant, day, shard)
        risk = self.merchants.setdefault(merchant, MerchantRisk())
        risk.add(day, count - self._shares.get(key, 0))
        self._shares[key] = count

    def forget_shard(self, shard: int) -> None:
        """Drop a shard's counts, to count its transactions again from the start."""
        for key in [key for key in self._shares if key[2] == shard]:
            merchant, day, _ = key
            self.merchants[merchant].add(day, -self._shares.pop(key))
            self._changed.add(key)

    def learn(self, labels: Iterable[LabelEvent]) -> None:
        """Labels, in the order they became known: a verdict that clears a transaction is kept
        only for one confirmed fraud before it (this call's or an earlier call's)."""
        for label in sorted(labels, key=lambda label: label.labelled_at):
            merchant = self.merchants.setdefault(label.merchant, MerchantRisk())
            merchant.hear(label)
            self._learn_for(merchant.labelled, label)
            self._learn_for(self.cards.setdefault(label.user_id, {}), label)

    @staticmethod
    def _learn_for(labelled: dict[str, _Verdicts], label: LabelEvent) -> None:
        verdicts = labelled.get(label.transaction_id)
        if verdicts is None:
            if not label.is_fraud:
                return  # legitimate, and never said otherwise: nothing to remember
            verdicts = labelled[label.transaction_id] = _Verdicts(label.event_at)
        verdicts.learn(label.labelled_at, label.is_fraud)

    def expire(self, now: float) -> None:
        """Forget day buckets and labelled transactions that no window reaches any more."""
        oldest_day = day_of(now) - KEPT_DAYS
        for key in [key for key in self._shares if key[1] < oldest_day]:
            del self._shares[key]
            self._changed.add(key)
        for merchant, risk in list(self.merchants.items()):
            risk.forget_before(oldest_day)
            if not risk.days and not risk.labelled and not risk.verdicts:
                del self.merchants[merchant]
        horizon = now - CARD_MEMORY
        for user, labelled in list(self.cards.items()):
            for transaction_id in [t for t, v in labelled.items() if v.event_at < horizon]:
                del labelled[transaction_id]
            if not labelled:
                del self.cards[user]
