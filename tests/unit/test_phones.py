"""Phone normalisation: every way a grid worker or a switch writes a number is one number."""

from __future__ import annotations

import pytest

from contacts.errors import DirectoryError, InvalidPhoneNumber
from contacts.phones import (
    DEFAULT_POLICY,
    PhonePolicy,
    display_phone,
    mask_phone,
    normalise_phone,
    try_normalise,
)

YICHANG_LANDLINE = "+867176123456"
MOBILE = "+8613812345678"
NO_EXTENSIONS = PhonePolicy(allow_extensions=False)


@pytest.mark.parametrize(
    "written",
    [
        "0717-6123456",
        "07176123456",
        "0717 6123456",
        "0717 612 3456",
        "+86 717 6123456",
        "+86-717-6123456",
        "+867176123456",
        "+86 (0) 717 6123456",
        "+8607176123456",
        "(0717)6123456",
        "(0717) 612-3456",
        "（0717）6123456",  # full-width brackets from a Chinese input method
        "０７１７－６１２３４５６",  # full-width digits and dash
        "0717—6123456",  # em dash
        "0717.6123456",
        "008607176123456",
        "0086 717 6123456",
        "0086-717-6123456",
        "＋86 717 6123456",
        "  0717-6123456\t",
        "tel:+86-717-6123456",
        "sip:07176123456@pbx.example",
        "sip:+867176123456@pbx.example;user=phone",
        '"Wang Fang" <sip:07176123456@10.0.0.1>;tag=a1',
    ],
)
def test_every_usual_way_of_writing_a_landline_is_one_number(written: str) -> None:
    assert normalise_phone(written) == YICHANG_LANDLINE


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("010-12345678", "+861012345678"),  # Beijing: two-digit area code, eight-digit number
        ("+86 10 1234 5678", "+861012345678"),
        ("027-87654321", "+862787654321"),  # Wuhan
    ],
)
def test_landlines_of_other_areas(written: str, canonical: str) -> None:
    assert normalise_phone(written) == canonical


@pytest.mark.parametrize(
    "written",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "8613812345678",
        "008613812345678",
        "sip:13812345678@pbx.example",
    ],
)
def test_mobiles_in_any_form(written: str) -> None:
    assert normalise_phone(written) == MOBILE


@pytest.mark.parametrize("written", ["15012345678", "18912345678", "19912345678", "17012345678"])
def test_mobile_prefixes(written: str) -> None:
    assert normalise_phone(written) == "+86" + written


@pytest.mark.parametrize(
    "written", ["801", "8001", "80012", "800123", "<sip:8001@pbx>", "sip:8001@pbx", "8001@pbx"]
)
def test_extensions_are_kept_as_digits_when_the_policy_allows_them(written: str) -> None:
    digits = "".join(c for c in written.split("@")[0] if c.isdigit())
    assert normalise_phone(written) == digits


@pytest.mark.parametrize("written", ["801", "8001", "800123"])
def test_extensions_are_refused_when_the_policy_forbids_them(written: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="extensions are not allowed"):
        normalise_phone(written, NO_EXTENSIONS, field="电话")


def test_extension_length_follows_the_policy() -> None:
    four_to_five = PhonePolicy(extension_min_digits=4, extension_max_digits=5)
    assert normalise_phone("8001", four_to_five) == "8001"
    for too_short_or_long in ("801", "800123"):
        with pytest.raises(InvalidPhoneNumber):
            normalise_phone(too_short_or_long, four_to_five)


def test_mobiles_and_landlines_do_not_depend_on_extensions() -> None:
    assert normalise_phone("13812345678", NO_EXTENSIONS) == MOBILE
    assert normalise_phone("0717-6123456", NO_EXTENSIONS) == YICHANG_LANDLINE


@pytest.mark.parametrize("code", ["110", "119", "120", "122", "995", "12349"])
def test_public_emergency_short_codes_are_not_subscriber_lines(code: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="emergency short code"):
        normalise_phone(code)
    with pytest.raises(InvalidPhoneNumber, match="emergency short code"):
        normalise_phone(code, NO_EXTENSIONS)


@pytest.mark.parametrize(
    "written",
    ["+1 212 555 0100", "001 212 555 0100", "+44 20 7946 0958", "0044 20 7946 0958", "+852 2123 4567"],
)
def test_foreign_numbers_are_refused(written: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="not a number of region CN"):
        normalise_phone(written)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("abc", "not a phone number"),
        ("call me", "not a phone number"),
        ("1381234567", "11 digits"),  # a mobile missing a digit
        ("138123456789", "11 digits"),
        ("6123456", "area code"),  # a landline without its area code
        ("0717-612345", "area code"),
        ("4008123123", "not a mobile or landline"),  # a 400 business hotline
        ("+86 717 6123456 ext. 12", "extension"),
    ],
)
def test_invalid_numbers_raise_with_a_reason(written: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason) as caught:
        normalise_phone(written)
    assert caught.value.raw == written
    assert reason in caught.value.reason


def test_the_error_names_the_field_and_the_number() -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalise_phone("138-1234-567", field="联系人电话")
    error = caught.value
    assert error.field == "联系人电话"
    assert str(error).startswith("联系人电话: ")
    assert "'138-1234-567'" in str(error)


def test_the_error_without_a_field_starts_with_the_problem() -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalise_phone("xyz")
    assert caught.value.field is None
    assert str(caught.value).startswith("invalid phone number 'xyz'")


def test_invalid_phone_number_belongs_to_the_directory_error_tree() -> None:
    with pytest.raises(DirectoryError):
        normalise_phone("nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        normalise_phone("nonsense")


def test_try_normalise_returns_none_instead_of_raising() -> None:
    assert try_normalise("0717-6123456") == YICHANG_LANDLINE
    assert try_normalise("anonymous") is None
    assert try_normalise("") is None
    assert try_normalise("110") is None
    assert try_normalise("8001", NO_EXTENSIONS) is None
    assert try_normalise("9" * 500) is None


def test_canonical_forms_are_stable() -> None:
    for canonical in (YICHANG_LANDLINE, MOBILE, "8001"):
        assert normalise_phone(canonical) == canonical


def test_default_policy_is_mainland_with_extensions() -> None:
    assert DEFAULT_POLICY.region == "CN"
    assert DEFAULT_POLICY.allow_extensions
    assert not DEFAULT_POLICY.is_extension("0800")  # a leading zero is the start of an area code


@pytest.mark.parametrize(
    ("canonical", "shown"),
    [
        (MOBILE, "138 1234 5678"),
        (YICHANG_LANDLINE, "0717-6123456"),
        ("+861012345678", "010-12345678"),
        ("+862787654321", "027-87654321"),
        ("8001", "8001"),
    ],
)
def test_display_phone(canonical: str, shown: str) -> None:
    assert display_phone(canonical) == shown


def test_display_phone_round_trips_through_normalise() -> None:
    for canonical in (MOBILE, YICHANG_LANDLINE, "+861012345678", "8001"):
        assert normalise_phone(display_phone(canonical)) == canonical


@pytest.mark.parametrize(
    ("canonical", "masked"),
    [
        (MOBILE, "**********5678"),
        (YICHANG_LANDLINE, "*********3456"),
        ("80012", "*0012"),
        ("8001", "8001"),
        ("801", "801"),
    ],
)
def test_mask_phone_keeps_only_the_last_four_digits(canonical: str, masked: str) -> None:
    assert mask_phone(canonical) == masked
    assert len(mask_phone(canonical)) == len(canonical)
