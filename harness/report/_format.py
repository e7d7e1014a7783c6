"""Numbers as the report prints them, always with their unit: money in major units, ms, s, %.

    >>> money(123456, "EUR"), money(1500, "JPY"), money(5, "KWD")
    ('1,234.56 EUR', '1,500 JPY', '0.005 KWD')
    >>> milliseconds(2100.4), seconds(4.0), seconds(0.12), percent(0.125)
    ('2,100 ms', '4 s', '120 ms', '12.5%')
"""

from __future__ import annotations

# ISO 4217 minor-unit exponents other than the usual 2.
_EXPONENT = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                     "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
_MINUS = "\u2212"
_NONE = "\u2013"


def money(minor: int | None, currency: str | None) -> str:
    """An amount in the currency's major unit with its code; minor units where the currency is unknown."""
    if minor is None:
        return _NONE
    sign = _MINUS if minor < 0 else ""
    if not currency or currency == "unknown":
        return f"{sign}{abs(minor):,} (minor units, no currency)"
    exponent = _EXPONENT.get(currency.upper(), 2)
    whole, part = divmod(abs(minor), 10 ** exponent)
    fraction = f".{part:0{exponent}d}" if exponent else ""
    return f"{sign}{whole:,}{fraction} {currency}"


def milliseconds(value: float | None) -> str:
    if value is None:
        return _NONE
    if value < 10:
        return f"{value:.1f} ms"
    return f"{value:,.0f} ms"


def seconds(value: float | None) -> str:
    """Seconds to a tenth; under one second in whole milliseconds."""
    if value is None:
        return _NONE
    if 0 < abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    return f"{round(value, 1):g} s" if abs(value) < 100 else f"{value:,.0f} s"


def percent(fraction: float | None) -> str:
    if fraction is None:
        return _NONE
    return f"{round(fraction * 100, 2):g}%"


def count(value: int | None) -> str:
    return _NONE if value is None else f"{value:,}"
