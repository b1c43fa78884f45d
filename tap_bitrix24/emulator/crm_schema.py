"""CRM item types and their fields as ``crm.item.fields`` / ``crm.type.list`` describe them.

Standard fields are camelCase with an UPPER ``upperName`` (``createdTime`` / ``CREATED_TIME``);
user fields (``isDynamic``) are ``ufCrm_<n>`` / ``UF_CRM_<n>`` on the fixed types and
``ufCrm<typeId>_<n>`` / ``UF_CRM_<typeId>_<n>`` on smart processes, where typeId is the SPA's
``id`` from crm.type.list, not its entityTypeId (docs: data-types.md, Converter.php). Every type
carries one user field of every UF type, so a client meets every value format everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

LEAD, DEAL, CONTACT, COMPANY, QUOTE, SMART_INVOICE = 1, 2, 3, 4, 7, 31
#: Types with phone/e-mail/web/IM multi-fields (``fm`` under ``select: ['*']``).
FM_TYPES = frozenset({LEAD, CONTACT, COMPANY})
#: Binding abbreviations for ``crm`` user fields (``D_12``, ``CO_3``, ``T80_6``).
ABBREVIATIONS = {LEAD: "L", DEAL: "D", CONTACT: "C", COMPANY: "CO", QUOTE: "Q", SMART_INVOICE: "SI"}


def abbreviation(entity_type_id: int) -> str:
    """``D`` for deals, ``T<hex>`` for smart processes (1030 -> ``T406``)."""
    return ABBREVIATIONS.get(entity_type_id) or f"T{entity_type_id:x}"


def upper_name(camel: str) -> str:
    """``createdTime`` -> ``CREATED_TIME``, ``parentId2`` -> ``PARENT_ID_2``."""
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel)
    text = re.sub(r"(?<=[A-Za-z])(\d)", r"_\1", text)
    return text.upper()


@dataclass(frozen=True)
class Field:
    """One field of an item type; ``kind`` says how values are generated."""

    name: str
    type: str
    kind: str
    upper: str = ""
    multiple: bool = False
    read_only: bool = False
    required: bool = False
    immutable: bool = False
    dynamic: bool = False
    title: str = ""
    status_type: str | None = None
    items: tuple[tuple[int, str], ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    deprecated: bool = False

    def describe(self) -> dict[str, Any]:
        """The ``crm.item.fields`` entry, keys in the order the docs' examples show."""
        out: dict[str, Any] = {
            "type": self.type,
            "isRequired": self.required,
            "isReadOnly": self.read_only,
            "isImmutable": self.immutable,
            "isMultiple": self.multiple,
            "isDynamic": self.dynamic,
        }
        if self.items:
            out["items"] = [{"ID": str(i), "VALUE": v} for i, v in self.items]
        out["title"] = self.title
        if self.deprecated:
            out["isDeprecated"] = True
        if self.status_type:
            out["statusType"] = self.status_type
        if self.dynamic:
            out["listLabel"] = self.title
            out["formLabel"] = self.title
            out["filterLabel"] = self.title
            out["settings"] = dict(self.settings)
        elif self.settings:
            out["settings"] = dict(self.settings)
        out["upperName"] = self.upper
        return out


@dataclass(frozen=True)
class ItemType:
    """A CRM entity type the portal holds items of."""

    entity_type_id: int
    title: str
    type_id: int | None = None  # smart processes: the ``id`` in crm.type.list
    code: str = ""
    categories: tuple[int, ...] = (0,)
    fields: tuple[Field, ...] = ()

    @property
    def is_dynamic(self) -> bool:
        return self.type_id is not None

    def stage_entity(self, category: int) -> str:
        """crm_status ENTITY_ID of a category's stages."""
        t = self.entity_type_id
        if t == LEAD:
            return "STATUS"
        if t == QUOTE:
            return "QUOTE_STATUS"
        if t == DEAL:
            return "DEAL_STAGE" if category == 0 else f"DEAL_STAGE_{category}"
        if t == SMART_INVOICE:
            return f"SMART_INVOICE_STAGE_{category}"
        return f"DYNAMIC_{t}_STAGE_{category}"

    def stages(self, category: int) -> tuple[str, ...]:
        """Stage IDs of a category (process stages, then success, then failure)."""
        t = self.entity_type_id
        if t == LEAD:
            return ("NEW", "IN_PROCESS", "PROCESSED", "CONVERTED", "JUNK")
        if t == QUOTE:
            return ("DRAFT", "SENT", "RECEIVED", "APPROVED", "DECLAINED")
        if t == DEAL:
            prefix = "" if category == 0 else f"C{category}:"
            return tuple(
                prefix + s for s in ("NEW", "PREPARATION", "EXECUTING", "UC_KN8KFI", "WON", "LOSE")
            )
        prefix = f"DT{t}_{category}:"
        return tuple(prefix + s for s in ("NEW", "PREPARATION", "CLIENT", "SUCCESS", "FAIL"))


def _std(
    name: str,
    type_: str,
    kind: str | None = None,
    *,
    title: str | None = None,
    multiple: bool = False,
    read_only: bool = False,
    required: bool = False,
    immutable: bool = False,
    status_type: str | None = None,
    settings: dict[str, Any] | None = None,
    deprecated: bool = False,
) -> Field:
    return Field(
        name=name,
        type=type_,
        kind=kind or type_,
        upper=upper_name(name),
        multiple=multiple,
        read_only=read_only,
        required=required,
        immutable=immutable,
        title=title or name,
        status_type=status_type,
        settings=settings or {},
        deprecated=deprecated,
    )


def _ro(name: str, type_: str, kind: str | None = None, **kw: Any) -> Field:
    return _std(name, type_, kind, read_only=True, **kw)


ID = _ro("id", "integer", "id", title="ID")
AUDIT = (
    _ro("createdBy", "user", "creator", title="Created by"),
    _ro("updatedBy", "user", "user", title="Modified by"),
    _ro("createdTime", "datetime", "created", title="Created on"),
    _ro("updatedTime", "datetime", "updated", title="Modified on"),
)
MOVED = (
    _ro("movedBy", "user", "user", title="Moved by"),
    _ro("movedTime", "datetime", "moved", title="Moved on"),
)
LAST_ACTIVITY = (
    _ro("lastActivityBy", "user", "user", title="Last activity by"),
    _ro("lastActivityTime", "datetime", "last_activity", title="Last activity"),
)
ASSIGNED = _std("assignedById", "user", "user", title="Responsible person", required=True)
OBSERVERS = _std("observers", "user", "users", title="Observers", multiple=True)
OPENED = _std("opened", "boolean", "flag", title="Available to everyone")
MONEY = (
    _std("currencyId", "crm_currency", "currency", title="Currency"),
    _std("opportunity", "double", "amount", title="Amount"),
    _std("isManualOpportunity", "boolean", "flag", title="Manual amount"),
    _std("taxValue", "double", "tax", title="Tax"),
)
DATES = (
    _std("begindate", "date", "begin", title="Start date"),
    _std("closedate", "date", "close", title="End date"),
)
SOURCE = (
    _std("sourceId", "crm_status", "source", title="Source", status_type="SOURCE"),
    _std("sourceDescription", "text", "text", title="Source information"),
)
CLIENT = (
    _std("companyId", "crm_company", "company", title="Company"),
    _std("contactId", "crm_contact", "contact", title="Contact", deprecated=True),
    _std("contactIds", "crm_contact", "contacts", title="Contacts", multiple=True),
)
PERSON = (
    _std("honorific", "crm_status", "honorific", title="Salutation", status_type="HONORIFIC"),
    _std("name", "string", "first_name", title="First name"),
    _std("secondName", "string", "second_name", title="Middle name"),
    _std("lastName", "string", "last_name", title="Last name"),
    _std("birthdate", "date", "birthdate", title="Date of birth"),
    _std("post", "string", "post", title="Position"),
)
COMMUNICATION_FLAGS = (
    _ro("hasPhone", "boolean", "has_phone", title="Has phone"),
    _ro("hasEmail", "boolean", "has_email", title="Has e-mail"),
    _ro("hasImol", "boolean", "flag", title="Has Open Channel"),
)


def _stage(status_type: str) -> Field:
    return _std("stageId", "crm_status", "stage", title="Stage", status_type=status_type)


CATEGORY = _std("categoryId", "crm_category", "category", title="Pipeline", immutable=True)
SEMANTIC = _ro("stageSemanticId", "string", "semantic", title="Stage group")
TITLE = _std("title", "string", "title", title="Name")
COMMENTS = _std("comments", "text", "text", title="Comment")


def _standard_fields(entity_type_id: int, is_dynamic: bool) -> tuple[Field, ...]:
    t = entity_type_id
    if t == LEAD:
        return (
            ID,
            TITLE,
            *PERSON,
            _std("companyTitle", "string", "company_title", title="Company name"),
            *SOURCE,
            _stage("STATUS"),
            SEMANTIC,
            _std("statusDescription", "text", "text", title="Status information"),
            *MONEY[:3],
            OPENED,
            COMMENTS,
            *COMMUNICATION_FLAGS,
            ASSIGNED,
            *AUDIT,
            *MOVED,
            *CLIENT,
            _ro("isReturnCustomer", "boolean", "flag", title="Repeat lead"),
            _ro("dateClosed", "datetime", "closed_time", title="Closed on"),
            *LAST_ACTIVITY,
            OBSERVERS,
        )
    if t == DEAL:
        return (
            ID,
            TITLE,
            _std("typeId", "crm_status", "deal_type", title="Type", status_type="DEAL_TYPE"),
            CATEGORY,
            _std("stageId", "crm_status", "stage", title="Stage", status_type="DEAL_STAGE"),
            SEMANTIC,
            _ro("isNew", "boolean", "flag", title="New"),
            _std("isRecurring", "boolean", "rare_flag", title="Recurring deal"),
            _ro("isReturnCustomer", "boolean", "flag", title="Repeat deal"),
            _ro("isRepeatedApproach", "boolean", "flag", title="Repeat inquiry"),
            _std("probability", "integer", "probability", title="Probability"),
            *MONEY,
            *CLIENT,
            _std("quoteId", "crm_quote", "quote", title="Estimate"),
            *DATES,
            OPENED,
            _std("closed", "boolean", "closed", title="Closed"),
            COMMENTS,
            ASSIGNED,
            *AUDIT,
            *MOVED,
            *SOURCE,
            _std("leadId", "crm_lead", "lead", title="Lead"),
            *LAST_ACTIVITY,
            OBSERVERS,
        )
    if t == CONTACT:
        return (
            ID,
            *PERSON,
            _std("typeId", "crm_status", "contact_type", title="Type", status_type="CONTACT_TYPE"),
            *SOURCE,
            COMMENTS,
            OPENED,
            _std("export", "boolean", "flag", title="Included in export"),
            *COMMUNICATION_FLAGS,
            ASSIGNED,
            *AUDIT,
            _std("companyId", "crm_company", "company", title="Company", deprecated=True),
            _std("companyIds", "crm_company", "companies", title="Companies", multiple=True),
            _std("leadId", "crm_lead", "lead", title="Lead"),
            *LAST_ACTIVITY,
            OBSERVERS,
        )
    if t == COMPANY:
        return (
            ID,
            TITLE,
            _std("typeId", "crm_status", "company_type", title="Type", status_type="COMPANY_TYPE"),
            _std("industry", "crm_status", "industry", title="Industry", status_type="INDUSTRY"),
            _std("employees", "crm_status", "employees", title="Staff", status_type="EMPLOYEES"),
            _std("currencyId", "crm_currency", "currency", title="Currency"),
            _std("revenue", "double", "amount", title="Annual revenue"),
            OPENED,
            COMMENTS,
            *COMMUNICATION_FLAGS,
            _std("isMyCompany", "boolean", "rare_flag", title="My company"),
            ASSIGNED,
            *AUDIT,
            _std("contactIds", "crm_contact", "contacts", title="Contacts", multiple=True),
            _std("leadId", "crm_lead", "lead", title="Lead"),
            *LAST_ACTIVITY,
            OBSERVERS,
        )
    if t == QUOTE:
        return (
            ID,
            TITLE,
            _std("number", "string", "number", title="Estimate #"),
            _stage("QUOTE_STATUS"),
            *MONEY,
            *CLIENT,
            _std("dealId", "crm_deal", "deal", title="Deal"),
            _std("leadId", "crm_lead", "lead", title="Lead"),
            *DATES,
            _std("actualDate", "date", "close", title="Expiration date"),
            OPENED,
            _std("closed", "boolean", "closed", title="Closed"),
            COMMENTS,
            _std("content", "text", "text", title="Content"),
            ASSIGNED,
            *AUDIT,
            *MOVED,
            *LAST_ACTIVITY,
        )
    spa: list[Field] = [
        ID,
        _std("xmlId", "string", "xml_id", title="External ID"),
        TITLE,
        *AUDIT,
        *MOVED,
        CATEGORY,
        OPENED,
        _stage(f"DYNAMIC_{t}_STAGE_0" if is_dynamic else "SMART_INVOICE_STAGE_0"),
        _ro("previousStageId", "crm_status", "previous_stage", title="Previous stage"),
        *DATES,
        *CLIENT,
        *MONEY,
        _std("mycompanyId", "crm_company", "company", title="Your company details"),
        *SOURCE,
        ASSIGNED,
        OBSERVERS,
        *LAST_ACTIVITY,
    ]
    if t == SMART_INVOICE:
        spa.insert(3, _std("accountNumber", "string", "number", title="Invoice #"))
        spa.append(COMMENTS)
    else:
        spa.append(
            _std(
                "parentId2",
                "crm_entity",
                "deal",
                title="Deal",
                settings={"parentEntityTypeId": DEAL},
            )
        )
    return tuple(spa)


def _enum_items(base: int, labels: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    return tuple((base + i, label) for i, label in enumerate(labels))


def _user_fields(item_type_key: int, entity_type_id: int, type_id: int | None) -> tuple[Field, ...]:
    """One user field of every UF type, named the way the portal names them."""
    stamp = 1_700_000_000 + item_type_key * 1000
    enum_base = 40 + item_type_key * 100
    specs: list[tuple[str, str, bool, str, dict[str, Any], tuple[tuple[int, str], ...]]] = [
        ("string", "uf_string", False, "Code word", {"SIZE": 20, "ROWS": 1}, ()),
        ("string", "uf_strings", True, "Tags", {}, ()),
        ("integer", "uf_integer", False, "Seats", {"MIN_VALUE": 0}, ()),
        ("double", "uf_double", False, "Discount rate", {"PRECISION": 2}, ()),
        ("boolean", "uf_boolean", False, "VIP", {"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX"}, ()),
        ("date", "uf_date", False, "Contract date", {}, ()),
        ("datetime", "uf_datetime", False, "Next call", {}, ()),
        ("money", "uf_money", False, "Budget", {"DEFAULT_VALUE": ""}, ()),
        ("url", "uf_url", False, "Landing page", {}, ()),
        ("address", "uf_address", False, "Delivery address", {}, ()),
        (
            "enumeration",
            "uf_enum",
            False,
            "Priority",
            {"DISPLAY": "LIST"},
            _enum_items(enum_base, ("Low", "Normal", "High", "Критично 🔥")),
        ),
        (
            "enumeration",
            "uf_enums",
            True,
            "Channels",
            {"DISPLAY": "CHECKBOX"},
            _enum_items(enum_base + 10, ("E-mail", "Phone", "Telegram", "Вотсап", "Fax")),
        ),
        ("file", "uf_file", False, "Scan", {}, ()),
        ("employee", "uf_employee", False, "Curator", {}, ()),
        ("employee", "uf_employees", True, "Team", {}, ()),
        (
            "crm",
            "uf_crm",
            False,
            "Linked",
            {"LEAD": "Y", "DEAL": "Y", "CONTACT": "Y", "COMPANY": "Y", "DYNAMIC_128": "Y"},
            (),
        ),
        ("crm", "uf_crms", True, "Related", {"DEAL": "Y", "COMPANY": "Y", "DYNAMIC_128": "Y"}, ()),
        ("crm", "uf_crm_deal", False, "Parent deal", {"DEAL": "Y"}, ()),
        ("crm_status", "uf_crm_status", False, "Source 2", {"ENTITY_TYPE": "SOURCE"}, ()),
        ("rest_1_rating", "uf_app", False, "Rating (app)", {}, ()),
    ]
    fields_: list[Field] = []
    for k, (type_, kind, multiple, label, settings, items) in enumerate(specs):
        suffix = str(stamp + k)
        if type_id is not None:
            name, upper = f"ufCrm{type_id}_{suffix}", f"UF_CRM_{type_id}_{suffix}"
        elif entity_type_id == SMART_INVOICE:
            name, upper = f"ufCrm_SMART_INVOICE_{suffix}", f"UF_CRM_SMART_INVOICE_{suffix}"
        else:
            name, upper = f"ufCrm_{suffix}", f"UF_CRM_{suffix}"
        fields_.append(
            Field(
                name=name,
                type=type_,
                kind=kind,
                upper=upper,
                multiple=multiple,
                dynamic=True,
                title=label,
                items=items,
                settings=settings,
            )
        )
    return tuple(fields_)


#: (entityTypeId, title, SPA type id, code, categories) of the default portal.
DEFAULT_TYPES: tuple[tuple[int, str, int | None, str, tuple[int, ...]], ...] = (
    (LEAD, "Lead", None, "", (0,)),
    (DEAL, "Deal", None, "", (0, 9)),
    (CONTACT, "Contact", None, "", (0,)),
    (COMPANY, "Company", None, "", (0,)),
    (QUOTE, "Estimate", None, "", (0,)),
    (SMART_INVOICE, "Invoice", None, "", (2,)),
    (128, "Projects", 1, "projects", (3, 4)),
    (133, "Tenders", 3, "tenders", (7,)),
    (1032, "Contracts", 2, "contracts", (11,)),
)


def build_types() -> dict[int, ItemType]:
    """The portal's item types with their fields (standard first, then user fields)."""
    out: dict[int, ItemType] = {}
    for key, (entity_type_id, title, type_id, code, categories) in enumerate(DEFAULT_TYPES):
        fields_ = _standard_fields(entity_type_id, type_id is not None) + _user_fields(
            key + 1, entity_type_id, type_id
        )
        out[entity_type_id] = ItemType(entity_type_id, title, type_id, code, categories, fields_)
    return out
