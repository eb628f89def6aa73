"""Phone number normalisation for mainland China.

Every number we store or dial is in one canonical form: E.164 (``+8613812345678``,
``+867176123456``) for public numbers, bare digits for the service's own short SIP extensions.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from contacts.errors import InvalidPhoneNumber

_SEPARATORS = re.compile(r"[\s\-().（）\u2010-\u2015\u3000]")
# The user part of a SIP or tel URI, also inside a header value: "Name" <sip:8001@pbx>;tag=1
_URI_USER = re.compile(r"(?:sips?|tel):([^@;>]+)", re.IGNORECASE)
EMERGENCY_SHORT_CODES = frozenset({"110", "119", "120", "122", "995", "12349"})
_DIALABLE_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.VOIP,
}


@dataclass(frozen=True, slots=True)
class PhonePolicy:
    region: str = "CN"
    allow_extensions: bool = True
    extension_min_digits: int = 3
    extension_max_digits: int = 6

    def is_extension(self, digits: str) -> bool:
        return (
            self.allow_extensions
            and digits.isdigit()
            and self.extension_min_digits <= len(digits) <= self.extension_max_digits
            and not digits.startswith("0")
        )


DEFAULT_POLICY = PhonePolicy()


def normalise_phone(raw: str, policy: PhonePolicy = DEFAULT_POLICY, field: str | None = None) -> str:
    """Return the canonical form of ``raw`` or raise InvalidPhoneNumber naming ``field``."""
    text = _strip(raw)
    if not text:
        raise InvalidPhoneNumber(raw, "empty", field)
    if text in EMERGENCY_SHORT_CODES:
        raise InvalidPhoneNumber(raw, "a public emergency short code, not a subscriber line", field)
    if policy.is_extension(text):
        return text
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, policy.region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(raw, _parse_reason(exc), field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw, _invalid_reason(text, policy), field)
    if phonenumbers.region_code_for_number(number) != policy.region:
        raise InvalidPhoneNumber(raw, f"not a number of region {policy.region}", field)
    if phonenumbers.number_type(number) not in _DIALABLE_TYPES:
        raise InvalidPhoneNumber(raw, "not a mobile or landline number", field)
    if number.extension:
        raise InvalidPhoneNumber(raw, "has an extension: give the line that rings directly", field)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def try_normalise(raw: str, policy: PhonePolicy = DEFAULT_POLICY) -> str | None:
    """Canonical form of a caller ID, or None when it is not a number we could know."""
    try:
        return normalise_phone(raw, policy)
    except InvalidPhoneNumber:
        return None


@functools.lru_cache(maxsize=65536)
def display_phone(canonical: str) -> str:
    """Human form for print and speech: 138 1234 5678, 0717-6123456, extensions unchanged.
    Cached: the operators' queue shows 500 callers on every refresh, and parsing is the costly part."""
    if not canonical.startswith("+"):
        return canonical
    try:
        number = phonenumbers.parse(canonical, None)
    except phonenumbers.NumberParseException:
        return canonical
    if number.country_code != 86:
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = str(number.national_number)
    area = phonenumbers.length_of_geographical_area_code(number)
    if phonenumbers.number_type(number) == PhoneNumberType.MOBILE or not area:
        return f"{national[:3]} {national[3:7]} {national[7:]}"
    return f"0{national[:area]}-{national[area:]}"


def mask_phone(canonical: str) -> str:
    """Phone number safe for logs: keep the last four digits."""
    return "*" * max(0, len(canonical) - 4) + canonical[-4:]


def _strip(raw: str) -> str:
    text = raw.strip()
    match = _URI_USER.search(text)
    if match:
        text = match.group(1)
    elif "@" in text:  # user@host without a scheme
        text = text.split("@", 1)[0]
    text = text.replace("＋", "+")
    return _SEPARATORS.sub("", text)


def _parse_reason(exc: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    }
    return reasons.get(exc.error_type, "not a phone number")


def _invalid_reason(text: str, policy: PhonePolicy) -> str:
    digits = text.lstrip("+")
    if not digits.isdigit():
        return "contains characters that are not digits"
    if digits.isdigit() and len(digits) <= policy.extension_max_digits and not policy.allow_extensions:
        return "short extensions are not allowed here"
    if text.startswith("1") and len(digits) != 11:
        return "a mobile number has 11 digits"
    return "not a valid mainland mobile or landline number (landlines need their area code)"
