"""The merchants simulated card holders pay: numbered branches of named shops.

Every shop kind ("Corner Grocery") comes in many numbered branches
("Corner Grocery 12"), so card holders have their own regular shops and a new
shop is usually a branch nobody in the user's history has visited. Roles say
which story a shop can appear in: everyday life, small purchases, big ones,
trips, or a fraudster's cash-out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EVERYDAY = "everyday"
SMALL = "small"
BIG = "big"
TRIP = "trip"
CASH_OUT = "cash-out"
UNUSUAL = "unusual"


@dataclass(frozen=True, slots=True)
class Merchant:
    name: str
    merchant_type: str
    online: bool


@dataclass(frozen=True, slots=True)
class _Kind:
    stem: str
    merchant_type: str
    online: bool
    roles: frozenset[str]


def _kind(stem: str, merchant_type: str, online: bool, *roles: str) -> _Kind:
    return _Kind(stem, merchant_type, online, frozenset(roles))


_KINDS: tuple[_Kind, ...] = (
    _kind("Corner Grocery", "grocery", False, EVERYDAY),
    _kind("Fresh Market", "grocery", False, EVERYDAY),
    _kind("Green Basket", "grocery", False, EVERYDAY, TRIP),
    _kind("Harvest Mart", "grocery", False, EVERYDAY),
    _kind("Quick Fuel", "gas", False, EVERYDAY, TRIP),
    _kind("Highway Gas", "gas", False, EVERYDAY, TRIP),
    _kind("Fuel Stop", "gas", False, EVERYDAY),
    _kind("Blue Door Diner", "restaurant", False, EVERYDAY, TRIP),
    _kind("Pasta House", "restaurant", False, EVERYDAY, TRIP),
    _kind("Sushi Corner", "restaurant", False, EVERYDAY, TRIP),
    _kind("Taco Stand", "restaurant", False, EVERYDAY, TRIP),
    _kind("Thai Garden", "restaurant", False, EVERYDAY, TRIP),
    _kind("Daily Coffee", "restaurant", False, SMALL, TRIP),
    _kind("Bean There Cafe", "restaurant", False, SMALL),
    _kind("Food Delivery App", "restaurant", True, EVERYDAY),
    _kind("City Hardware", "retail", False, EVERYDAY),
    _kind("Style Outlet", "retail", False, EVERYDAY, TRIP),
    _kind("Book Nook", "retail", False, EVERYDAY, TRIP),
    _kind("Pharmacy Plus", "retail", False, EVERYDAY),
    _kind("Sport Depot", "retail", False, EVERYDAY),
    _kind("Souvenir Corner", "retail", False, TRIP),
    _kind("Vending Point", "retail", False, SMALL),
    _kind("Electronics Hub", "retail", False, BIG, CASH_OUT),
    _kind("Luxury Watches", "retail", False, BIG, CASH_OUT),
    _kind("Furniture World", "retail", False, BIG),
    _kind("Cinema Palace", "entertainment", False, EVERYDAY, TRIP),
    _kind("Bowling Club", "entertainment", False, EVERYDAY),
    _kind("Live Arena", "entertainment", False, BIG, TRIP),
    _kind("StreamBox", "entertainment", True, EVERYDAY),
    _kind("Metro Transit", "travel", False, SMALL),
    _kind("City Parking", "travel", False, SMALL, TRIP),
    _kind("RideNow", "travel", True, EVERYDAY, TRIP),
    _kind("Grand Hotel", "travel", False, TRIP),
    _kind("SkyWays Airlines", "travel", True, BIG),
    _kind("Rail Link", "travel", True, EVERYDAY, BIG),
    _kind("ShopNow Online", "online", True, EVERYDAY),
    _kind("MegaMart Online", "online", True, EVERYDAY),
    _kind("Fashion Hub Online", "online", True, EVERYDAY),
    _kind("App Store", "online", True, EVERYDAY, SMALL),
    _kind("Gadget Store Online", "online", True, EVERYDAY, BIG, CASH_OUT),
    _kind("GiftCard World", "online", True, CASH_OUT),
    _kind("Charity Donate", "online", True, EVERYDAY),
    _kind("CoinVault Exchange", "crypto", True, UNUSUAL, CASH_OUT),
    _kind("Lucky Star Casino", "gambling", True, UNUSUAL),
    _kind("Metro Power", "utilities", True, UNUSUAL),
    _kind("Family Clinic", "healthcare", False, UNUSUAL),
    _kind("Online Academy", "education", True, UNUSUAL),
)

# How much a purchase of each type costs relative to the card holder's typical amount.
TYPE_LEVEL: dict[str, float] = {
    "grocery": 1.0,
    "gas": 0.9,
    "restaurant": 0.6,
    "retail": 1.1,
    "online": 1.0,
    "entertainment": 0.7,
    "travel": 1.8,
}
UNUSUAL_LEVEL = 1.5


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every simulated merchant, indexed by the stories they can appear in."""

    everyday: dict[str, list[Merchant]] = field(default_factory=dict)
    trip: dict[str, list[Merchant]] = field(default_factory=dict)
    small: list[Merchant] = field(default_factory=list)
    big: list[Merchant] = field(default_factory=list)
    online_cash_out: list[Merchant] = field(default_factory=list)
    in_person_cash_out: list[Merchant] = field(default_factory=list)
    unusual: list[Merchant] = field(default_factory=list)
    bookings: list[Merchant] = field(default_factory=list)
    online: list[Merchant] = field(default_factory=list)
    in_person_shops: list[Merchant] = field(default_factory=list)


def build_catalogue(branches: int) -> Catalogue:
    """Merchants with ``branches`` numbered branches per kind; no randomness needed."""
    catalogue = Catalogue()
    for kind in _KINDS:
        merchants = [
            Merchant(f"{kind.stem} {n}", kind.merchant_type, kind.online)
            for n in range(1, branches + 1)
        ]
        if EVERYDAY in kind.roles:
            catalogue.everyday.setdefault(kind.merchant_type, []).extend(merchants)
        if TRIP in kind.roles:
            catalogue.trip.setdefault(kind.merchant_type, []).extend(merchants)
        if SMALL in kind.roles:
            catalogue.small.extend(merchants)
        if BIG in kind.roles:
            catalogue.big.extend(merchants)
            if kind.merchant_type == "travel" and kind.online:
                catalogue.bookings.extend(merchants)
        if CASH_OUT in kind.roles:
            cash_out = catalogue.online_cash_out if kind.online else catalogue.in_person_cash_out
            cash_out.extend(merchants)
        if UNUSUAL in kind.roles:
            catalogue.unusual.extend(merchants)
        if kind.online and kind.merchant_type == "online":
            catalogue.online.extend(merchants)
        if not kind.online and kind.merchant_type in ("retail", "gas", "grocery"):
            catalogue.in_person_shops.extend(merchants)
    return catalogue
