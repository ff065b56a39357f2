"""Money in integer minor units of an ISO 4217 currency; floats, non-positive and unknown are refused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from lambdas.shared.errors import MoneyError

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF "
    "CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF "
    "IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR "
    "MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD "
    "SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UZS VES WST XCD YER ZAR ZMW ZWG"
)
# ISO 4217 active codes -> exponent (number of minor-unit digits).
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_TWO.split(), 2),
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_THREE.split(), 3),
    **dict.fromkeys(_FOUR.split(), 4),
}
# Major units as ASCII digits, then optionally "." and ASCII digits. Written out as [0-9], not \d or
# str.isdigit(): those also take "\u00b2", Arabic-Indic U+0661 and fullwidth U+FF11, and int() reads
# some of them, plus "1_000", " 12" and "+5". Matched with fullmatch, so no trailing newline slips by.
_DECIMAL = re.compile(r"(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?")
# Longest amount text read: 20 digits, a point and 4 decimals is far above any configured limit and far
# below Python's int-from-text limit (4300 digits, which raises a bare ValueError).
MAX_DECIMAL_TEXT_CHARS = 25


@dataclass(frozen=True, slots=True)
class Money:
    """A positive amount in minor units of a known currency, at most ``limit``."""

    amount: int
    currency: str

    @classmethod
    def of(cls, amount: object, currency: object, *, limit: int) -> Money:
        """Validated money; raises MoneyError with a stable code (never echoing the value)."""
        # bool is an int subclass and floats are never money.
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise MoneyError("amount must be an integer number of minor units", field="amount")
        if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
            raise MoneyError("currency is not a supported ISO 4217 code", code="UNSUPPORTED_CURRENCY", field="currency")
        if amount <= 0:
            raise MoneyError("amount must be positive", field="amount")
        if amount > limit:
            raise MoneyError("amount is above the configured limit", code="AMOUNT_OVER_LIMIT", field="amount")
        return cls(amount, currency)

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self.currency]

    def to_decimal_string(self) -> str:
        """Major units as a decimal string with exactly the currency's digits (JPY 500 -> '500', USD 5 -> '0.05')."""
        if self.exponent == 0:
            return str(self.amount)
        major, minor = divmod(self.amount, 10**self.exponent)
        return f"{major}.{minor:0{self.exponent}d}"

    @classmethod
    def from_decimal_string(cls, text: object, currency: object, *, limit: int) -> Money:
        """Money from major units written as text (``"12.50"`` EUR -> 1250 minor units), no float arithmetic.

        ``text`` is ASCII digits, optionally a point and at most the currency's exponent of ASCII
        digits, at most ``MAX_DECIMAL_TEXT_CHARS`` characters; no sign, exponent, grouping, spaces
        or non-ASCII digits. Raises MoneyError (code VALIDATION_FAILED, field ``amount``) for any
        other text, UNSUPPORTED_CURRENCY for a currency outside ISO 4217's active codes, and
        AMOUNT_OVER_LIMIT above ``limit`` (minor units).
        """
        exponent = CURRENCY_EXPONENTS.get(currency) if isinstance(currency, str) else None
        if exponent is None:
            raise MoneyError("currency is not a supported ISO 4217 code", code="UNSUPPORTED_CURRENCY", field="currency")
        if not isinstance(text, str):
            raise MoneyError("amount must be text of ASCII digits", field="amount")
        if len(text) > MAX_DECIMAL_TEXT_CHARS:
            raise MoneyError(f"amount text is longer than {MAX_DECIMAL_TEXT_CHARS} characters", field="amount")
        parsed = _DECIMAL.fullmatch(text)
        if parsed is None:
            raise MoneyError("amount must be ASCII digits with an optional decimal point", field="amount")
        minor = parsed["minor"] or ""
        if len(minor) > exponent:
            raise MoneyError(f"amount has more than the {exponent} decimals of {currency}", field="amount")
        amount = int(parsed["major"]) * 10**exponent + int(minor.ljust(exponent, "0") or "0")
        return cls.of(amount, currency, limit=limit)


def whole_number(value: object, *, field: str) -> int:
    """An exact integer from a stored number (int, or a DynamoDB Decimal with no fraction).

    ``int()`` would truncate ``Decimal("12.5")`` to 12 and read text; here anything but an integral
    int/Decimal raises MoneyError (code VALIDATION_FAILED, ``field`` named).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise MoneyError(f"{field} is not a whole number", field=field)
