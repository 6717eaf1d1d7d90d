"""Resource quantities in the Kubernetes syntax that ace.md's resource isolators use.

``<sign><digits>[.<digits>]<suffix>``, where the suffix is a binary SI one (``Ki`` … ``Ei``),
a decimal SI one (``n u m "" k M G T P E``) or a decimal exponent (``e3``, ``E-2``). The value
is kept exactly as a fraction; ``value()`` and ``milli_value()`` round up, as Kubernetes does.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from msgspec import Struct

from appc.errors import ValidationError
from appc.schema.field import describe

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
    r"(?P<suffix>[eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]?)"
)


class Quantity(Struct, frozen=True):
    """An exact amount with the text it was written as."""

    amount: Fraction
    text: str

    @classmethod
    def parse(cls, value: object, path: str = "") -> Quantity:
        # The reference accepts a JSON string or a bare JSON number.
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError(
                f'{describe(value)} is not valid: expected a quantity such as "500m" or "1Gi"',
                path,
            )
        text = value.strip() if isinstance(value, str) else repr(value)
        match = _QUANTITY.fullmatch(text)
        if match is None or not (match["int"] or match["frac"]):
            raise ValidationError(
                f"{describe(text)} is not a valid quantity: expected a number with an optional "
                "suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent "
                'like "e3")',
                path,
            )
        digits = (match["int"] or "0") + (match["frac"] or "")
        amount = Fraction(int(digits), 10 ** len(match["frac"] or ""))
        suffix = match["suffix"]
        if suffix in _BINARY:
            amount *= 2 ** _BINARY[suffix]
        elif suffix in _DECIMAL:
            # Before the exponent test: a lone "E" is exa, "1E" is 10**18.
            amount *= Fraction(10) ** _DECIMAL[suffix]
        else:
            amount *= Fraction(10) ** int(suffix[1:])
        if match["sign"] == "-":
            amount = -amount
        return cls(amount, text)

    def value(self) -> int:
        """The amount in whole units, rounded up (bytes for memory, cores for cpu)."""
        return math.ceil(self.amount)

    def milli_value(self) -> int:
        """The amount in thousandths, rounded up (millicores for cpu)."""
        return math.ceil(self.amount * 1000)

    def __str__(self) -> str:
        return self.text
