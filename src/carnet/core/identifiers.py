"""French identifiers, foreign VAT numbers, phones and emails: validated with their check digits,
normalised for storage.

Each `clean_*` returns the normalised value or adds a field error (never stores a wrong value).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from phonenumbers.phonemetadata import PhoneMetadata
from stdnum import get_cc_module, luhn
from stdnum.eu import vat as stdnum_eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret
from stdnum.fr import tva as stdnum_tva

from carnet.core import countries
from carnet.core.errors import FieldErrors

NAF_RE = re.compile(r"^\d{2}\.\d{2}[A-Z]$")
FINESS_RE = re.compile(r"^(\d{2}|2[AB])[0-9A-Z]{6}\d$")
RPPS_RE = re.compile(r"^\d{11}$")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clean_siren(value: Any, errors: FieldErrors, field: str = "siren") -> str | None:
    if _blank(value):
        return None
    try:
        return stdnum_siren.validate(str(value))
    except StdnumError:
        errors.add(field, "This SIREN is not valid (9 digits with a valid check digit)", "invalid_siren")
        return None


def clean_siret(value: Any, errors: FieldErrors, field: str = "siret") -> str | None:
    if _blank(value):
        return None
    try:
        return stdnum_siret.validate(str(value))
    except StdnumError:
        errors.add(field, "This SIRET is not valid (14 digits with a valid check digit)", "invalid_siret")
        return None


def clean_vat(value: Any, errors: FieldErrors, field: str = "vat_number", country: str = "FR") -> str | None:
    """A VAT number, checked for the organisation's `country`: French rules (the key computed from
    the SIREN, france.md §6.3) for France and the Sirene territories, python-stdnum's check for
    the country otherwise (`clean_foreign_vat`)."""
    if _blank(value):
        return None
    if not countries.uses_siren(country):
        return clean_foreign_vat(value, country, errors, field)
    text = re.sub(r"[\s.\-]", "", str(value)).upper()
    if text.startswith("FR"):
        try:
            return "FR" + stdnum_tva.validate(text)
        except StdnumError:
            errors.add(field, "This VAT number is not valid", "invalid_vat")
            return None
    if not re.fullmatch(r"[A-Z]{2}[0-9A-Z+*]{2,12}", text):
        errors.add(field, "This VAT number is not valid", "invalid_vat")
        return None
    return text


# The VAT number prefix of a country when it is not its ISO code: Greece uses EL (EU VAT, BR-CO-09
# of EN 16931 allows it); a United Kingdom business may hold a Northern Ireland (XI) number;
# Monaco is in the French VAT territory and its numbers are French ones (france.md §6.3).
VAT_PREFIXES = {"GR": ("EL", "GR"), "GB": ("GB", "XI"), "MC": ("FR",)}


def clean_foreign_vat(value: Any, country: str, errors: FieldErrors, field: str = "vat_number") -> str | None:
    """The VAT number of an organisation outside France, stored compact with its country prefix
    (`BE0403019261`, `CHE107787577MWST`): the e-invoice declares it as is (BT-48, scheme VA).

    EU member states: `stdnum.eu.vat` (the number must be of `country`); other countries with a
    python-stdnum VAT module (CH, GB, NO...): that module; elsewhere no public check exists, so
    only the shape is checked. The prefix may be left out: `0403.019.261` for a Belgian company."""
    if _blank(value):
        return None
    prefixes = VAT_PREFIXES.get(country, (country,))
    text = re.sub(r"[\s.\-/]", "", str(value)).upper()
    if not text.startswith(prefixes):
        text = prefixes[0] + text
    used = next(p for p in prefixes if text.startswith(p))
    module = stdnum_eu_vat if countries.in_eu(country) else get_cc_module(country.lower(), "vat")
    compact = None
    if module is None:
        compact = text if re.fullmatch(r"[A-Z0-9]{4,20}", text) else None
    else:
        # Some national modules take the number without its country prefix (ca.bn, jp.cn...);
        # an EU number always carries it, and it must be this country's.
        for candidate in (text,) if module is stdnum_eu_vat else (text, text[len(used) :]):
            try:
                compact = module.validate(candidate)
                break
            except StdnumError:
                continue
    if compact is None:
        errors.add(
            field,
            "This VAT number is not valid for this country ({country})",
            "invalid_vat",
            country=country,
        )
        return None
    return compact if compact.startswith(prefixes) else used + compact


def clean_naf(value: Any, errors: FieldErrors, field: str = "naf_code") -> str | None:
    if _blank(value):
        return None
    text = str(value).strip().upper().replace(" ", "")
    if re.fullmatch(r"\d{4}[A-Z]", text):
        text = f"{text[:2]}.{text[2:]}"
    if not NAF_RE.match(text):
        errors.add(field, "A NAF/APE code looks like 62.01Z", "invalid_naf")
        return None
    return text


def clean_finess(value: Any, errors: FieldErrors, field: str = "finess") -> str | None:
    """A FINESS number (EJ or ET): 9 characters starting with the département, the last one a key.

    Département prefixes: 01-19 and 21-95 (mainland), 2A/2B (Corsica), 97x/98x (overseas, the
    third character a digit). The key of an all-digit number must pass Luhn (mod 10): every
    published number we checked does (documentation/health-transparency.md, "Identifiers").
    Corsican numbers carry a letter: no public source says how the key reads it, so they are
    checked for format only rather than refusing real numbers with a guessed rule."""
    if _blank(value):
        return None
    text = str(value).strip().upper().replace(" ", "")
    if not FINESS_RE.match(text) or not _finess_departement_ok(text):
        errors.add(field, "A FINESS number has 9 characters starting with the département", "invalid_finess")
        return None
    if text.isdigit() and not luhn.is_valid(text):
        errors.add(field, "The check digit of this FINESS number is wrong", "invalid_finess_key")
        return None
    return text


def _finess_departement_ok(text: str) -> bool:
    prefix = text[:2]
    if prefix in ("2A", "2B"):
        return True
    if not prefix.isdigit():
        return False
    number = int(prefix)
    # "20" was split into 2A/2B; 96 does not exist; overseas numbers are 97x/98x.
    return (1 <= number <= 95 and number != 20) or (number in (97, 98) and text[2].isdigit())


def clean_rpps(value: Any, errors: FieldErrors, field: str = "rpps") -> str | None:
    """11 digits whose last one is a Luhn key (documentation/health-transparency.md)."""
    if _blank(value):
        return None
    text = re.sub(r"\s", "", str(value))
    if not RPPS_RE.match(text):
        errors.add(field, "An RPPS number has 11 digits", "invalid_rpps")
        return None
    if not luhn.is_valid(text):
        errors.add(field, "The check digit of this RPPS number is wrong", "invalid_rpps_key")
        return None
    return text


def key_warning(value: str | None) -> bool:
    """True when a stored all-digit FINESS/RPPS fails the Luhn key: numbers saved before the key
    became a field error are flagged on their record rather than silently trusted."""
    return bool(value) and value.isdigit() and not luhn.is_valid(value)


# A French number written nationally, "06 12 34 56 78", "06.12.34.56.78", "0612345678": what
# `phonenumbers.parse(text, "FR")` reads as country code 33 and the nine digits after the 0.
_FRENCH_NATIONAL = re.compile(r"0([1-9](?:[ .\-]?\d{2}){4})")
_NOT_DIGIT = re.compile(r"\D")
# The kinds of number `phonenumbers.is_valid_number` tries, one after the other.
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


@lru_cache(maxsize=1)
def _french_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(the general pattern, any kind's pattern) of nine-digit French national numbers, from the
    metadata `phonenumbers.is_valid_number` reads: a +33 number is valid exactly when it matches
    both. One alternation instead of a call per kind: an import validates a phone per row."""
    metadata = PhoneMetadata.metadata_for_region("FR")
    assert metadata is not None and 9 in metadata.general_desc.possible_length
    kinds = [
        desc.national_number_pattern
        for desc in (getattr(metadata, name) for name in _NUMBER_TYPES)
        if desc is not None
        and desc.national_number_pattern
        and (not desc.possible_length or 9 in desc.possible_length)
    ]
    return re.compile(metadata.general_desc.national_number_pattern), re.compile(
        "|".join(f"(?:{p})" for p in kinds)
    )


def _french_e164(national: str) -> str | None:
    """+33 and the nine digits when `phonenumbers.is_valid_number` would accept them, else None."""
    general, kinds = _french_patterns()
    if general.fullmatch(national) and kinds.fullmatch(national):
        return "+33" + national
    return None


def clean_phone(value: Any, errors: FieldErrors, field: str) -> str | None:
    """The E.164 form `phonenumbers` gives (read as French when no country is written). The common
    French national form is read directly: the general parser (extensions, letters, prefixes of
    every country) was most of an import's validation time."""
    if _blank(value):
        return None
    text = str(value)
    french = _FRENCH_NATIONAL.fullmatch(text.strip())
    if french is not None:
        e164 = _french_e164(_NOT_DIGIT.sub("", french[1]))
    else:
        try:
            parsed = phonenumbers.parse(text, "FR")
        except phonenumbers.NumberParseException:
            parsed = None
        valid = parsed is not None and phonenumbers.is_valid_number(parsed)
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if valid else None
    if e164 is None:
        errors.add(field, "This phone number is not valid", "invalid_phone")
    return e164


def format_phone(e164: str | None) -> str:
    """French style for French numbers (06 12 34 56 78), international style otherwise."""
    if not e164:
        return ""
    try:
        parsed = phonenumbers.parse(e164, "FR")
    except phonenumbers.NumberParseException:
        return e164
    if parsed.country_code == 33:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def clean_email(value: Any, errors: FieldErrors, field: str) -> str | None:
    if _blank(value):
        return None
    text = str(value).strip()
    plain = _plain_email(text)
    if plain is not None:
        return plain
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        errors.add(field, "Enter a valid email address", "invalid_email")
        return None


# A local part email_validator accepts and leaves as it is: dot-separated atoms of ASCII "atext"
# or letters of any script (it only refuses unsafe categories: controls, spaces, marks first...).
_ATOM = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x7f])+"
_PLAIN_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")


def _plain_email(text: str) -> str | None:
    """The normalised form of an everyday address (`jean.dupont@acme.fr`), as `validate_email`
    gives it but with its domain checked once per domain: an import checks thousands of
    addresses on a few domains. None: let `validate_email` decide."""
    local, at, domain = text.partition("@")
    if not at or len(text) > 200 or len(local) > 64 or not _PLAIN_LOCAL.fullmatch(local):
        return None
    if not local.isascii() and (
        not unicodedata.is_normalized("NFC", local)
        or not all(c.isascii() or unicodedata.category(c).startswith("L") for c in local)
    ):
        return None
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:  # postmaster@... is lower-cased
        return None
    checked = _email_domain(domain)
    return f"{local}@{checked}" if checked is not None else None


@lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str | None:
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def clean_list(values: Any, cleaner: Any, errors: FieldErrors, field: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in re.split(r"[;,\n]", values)]
    if not isinstance(values, list):
        errors.add(field, "Must be a list", "invalid_type")
        return []
    out: list[str] = []
    for i, raw in enumerate(values):
        cleaned = cleaner(raw, errors, f"{field}.{i}")
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out


def clean_url(value: Any, errors: FieldErrors, field: str) -> str | None:
    if _blank(value):
        return None
    text = str(value).strip()
    if not re.match(r"^https?://", text, re.I):
        text = "https://" + text
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+\.[A-Za-z]{2,}(:\d+)?(/[^\s]*)?", text):
        errors.add(field, "Enter a valid web address", "invalid_url")
        return None
    return text[:500]
