"""Money in integer minor units of an ISO 4217 currency; floats, non-positive and unknown are refused."""

from __future__ import annotations

from dataclasses import dataclass

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
    def from_decimal_string(cls, text: str, currency: str, *, limit: int) -> Money:
        """Parse major units written with at most the currency's digits (no float arithmetic)."""
        exponent = CURRENCY_EXPONENTS.get(currency)
        if exponent is None:
            raise MoneyError("currency is not a supported ISO 4217 code", code="UNSUPPORTED_CURRENCY", field="currency")
        major, _, minor = text.partition(".")
        malformed = not major.isdigit() or (minor and not minor.isdigit()) or ("." in text and not minor)
        if malformed or len(minor) > exponent:
            raise MoneyError("amount is not a decimal in the currency's precision", field="amount")
        return cls.of(int(major) * 10**exponent + int(minor.ljust(exponent, "0") or "0"), currency, limit=limit)
