"""The household directory: who lives where, who answers for whom, and how to reach them.

Pure code: no database, no framework. The SQL adapter lives in ``callcenter.db``.
"""

from contacts.errors import DirectoryError, InvalidPhoneNumber, RosterError
from contacts.model import (
    CARE_FLAG_LABELS,
    ESCALATION_ROLE_ORDER,
    ROLE_LABELS,
    CallerLookup,
    CareFlag,
    Contact,
    HouseholdProfile,
    Place,
    Responder,
    Role,
    ScopeLevel,
)
from contacts.phones import PhonePolicy, normalise_phone

__all__ = [
    "CARE_FLAG_LABELS",
    "ESCALATION_ROLE_ORDER",
    "ROLE_LABELS",
    "CallerLookup",
    "CareFlag",
    "Contact",
    "DirectoryError",
    "HouseholdProfile",
    "InvalidPhoneNumber",
    "PhonePolicy",
    "Place",
    "Responder",
    "Role",
    "RosterError",
    "ScopeLevel",
    "normalise_phone",
]
