"""CRM item types and their fields as ``crm.item.fields`` / ``crm.type.list`` describe them.

Standard fields are camelCase with an UPPER ``upperName`` (``createdTime`` / ``CREATED_TIME``);
user fields (``isDynamic``) are ``ufCrm_<n>`` / ``UF_CRM_<n>`` on the fixed types and
``ufCrm<typeId>_<n>`` / ``UF_CRM_<typeId>_<n>`` on smart processes, where typeId is the SPA's
``id`` from crm.type.list, not its entityTypeId (docs: data-types.md, Converter.php). Every type
carries one user field of every UF type, so a client meets every value format everywhere.
"""

from __future__ import annotations

import functools
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


def stage_entity(entity_type_id: int, category: int) -> str:
    """crm_status ENTITY_ID of the stages of a type's category."""
    t = entity_type_id
    if t == LEAD:
        return "STATUS"
    if t == QUOTE:
        return "QUOTE_STATUS"
    if t == DEAL:
        return "DEAL_STAGE" if category == 0 else f"DEAL_STAGE_{category}"
    if t == SMART_INVOICE:
        return f"SMART_INVOICE_STAGE_{category}"
    return f"DYNAMIC_{t}_STAGE_{category}"


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
        return stage_entity(self.entity_type_id, category)

    def stages(self, category: int) -> tuple[str, ...]:
        """Stage IDs of a category (process stages, then success, then failure)."""
        return stage_ids(self.entity_type_id, category)


@functools.cache
def stage_ids(entity_type_id: int, category: int) -> tuple[str, ...]:
    """Stage IDs of a type's category; cached, as every derived row reads them."""
    t = entity_type_id
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


#: Every standard field once: key -> (type, value kind, title, flags). The key is the field's
#: name, or ``name/variant`` where types describe the same name differently. Flags: ``ro``,
#: ``required``, ``immutable``, ``multiple``, ``deprecated``, ``status=<crm_status ENTITY_ID>``,
#: ``parent=<entityTypeId>`` (a parent link field).
STANDARD: dict[str, tuple[str, str, str, str]] = {
    "id": ("integer", "id", "ID", "ro"),
    "title": ("string", "title", "Name", ""),
    "xmlId": ("string", "xml_id", "External ID", ""),
    "accountNumber": ("string", "number", "Invoice #", ""),
    "number": ("string", "number", "Estimate #", ""),
    "honorific": ("crm_status", "honorific", "Salutation", "status=HONORIFIC"),
    "name": ("string", "first_name", "First name", ""),
    "secondName": ("string", "second_name", "Middle name", ""),
    "lastName": ("string", "last_name", "Last name", ""),
    "birthdate": ("date", "birthdate", "Date of birth", ""),
    "post": ("string", "post", "Position", ""),
    "companyTitle": ("string", "company_title", "Company name", ""),
    "typeId/deal": ("crm_status", "deal_type", "Type", "status=DEAL_TYPE"),
    "typeId/contact": ("crm_status", "contact_type", "Type", "status=CONTACT_TYPE"),
    "typeId/company": ("crm_status", "company_type", "Type", "status=COMPANY_TYPE"),
    "industry": ("crm_status", "industry", "Industry", "status=INDUSTRY"),
    "employees": ("crm_status", "employees", "Staff", "status=EMPLOYEES"),
    "categoryId": ("crm_category", "category", "Pipeline", "immutable"),
    "stageId": ("crm_status", "stage", "Stage", ""),  # status: the type's first category's
    "stageSemanticId": ("string", "semantic", "Stage group", "ro"),
    "previousStageId": ("crm_status", "previous_stage", "Previous stage", "ro"),
    "statusDescription": ("text", "text", "Status information", ""),
    "isNew": ("boolean", "flag", "New", "ro"),
    "isRecurring": ("boolean", "rare_flag", "Recurring deal", ""),
    "isReturnCustomer/lead": ("boolean", "flag", "Repeat lead", "ro"),
    "isReturnCustomer/deal": ("boolean", "flag", "Repeat deal", "ro"),
    "isRepeatedApproach": ("boolean", "flag", "Repeat inquiry", "ro"),
    "probability": ("integer", "probability", "Probability", ""),
    "currencyId": ("crm_currency", "currency", "Currency", ""),
    "opportunity": ("double", "amount", "Amount", ""),
    "isManualOpportunity": ("boolean", "flag", "Manual amount", ""),
    "taxValue": ("double", "tax", "Tax", ""),
    "revenue": ("double", "amount", "Annual revenue", ""),
    "companyId": ("crm_company", "company", "Company", ""),
    "companyId/deprecated": ("crm_company", "company", "Company", "deprecated"),
    "companyIds": ("crm_company", "companies", "Companies", "multiple"),
    "contactId": ("crm_contact", "contact", "Contact", "deprecated"),
    "contactIds": ("crm_contact", "contacts", "Contacts", "multiple"),
    "mycompanyId": ("crm_company", "company", "Your company details", ""),
    "quoteId": ("crm_quote", "quote", "Estimate", ""),
    "dealId": ("crm_deal", "deal", "Deal", ""),
    "leadId": ("crm_lead", "lead", "Lead", ""),
    "parentId2": ("crm_entity", "deal", "Deal", "parent=2"),
    "begindate": ("date", "begin", "Start date", ""),
    "closedate": ("date", "close", "End date", ""),
    "actualDate": ("date", "close", "Expiration date", ""),
    "opened": ("boolean", "flag", "Available to everyone", ""),
    "closed": ("boolean", "closed", "Closed", ""),
    "export": ("boolean", "flag", "Included in export", ""),
    "isMyCompany": ("boolean", "rare_flag", "My company", ""),
    "comments": ("text", "text", "Comment", ""),
    "content": ("text", "text", "Content", ""),
    "sourceId": ("crm_status", "source", "Source", "status=SOURCE"),
    "sourceDescription": ("text", "text", "Source information", ""),
    "hasPhone": ("boolean", "has_phone", "Has phone", "ro"),
    "hasEmail": ("boolean", "has_email", "Has e-mail", "ro"),
    "hasImol": ("boolean", "flag", "Has Open Channel", "ro"),
    "assignedById": ("user", "user", "Responsible person", "required"),
    "createdBy": ("user", "creator", "Created by", "ro"),
    "updatedBy": ("user", "user", "Modified by", "ro"),
    "createdTime": ("datetime", "created", "Created on", "ro"),
    "updatedTime": ("datetime", "updated", "Modified on", "ro"),
    "movedBy": ("user", "user", "Moved by", "ro"),
    "movedTime": ("datetime", "moved", "Moved on", "ro"),
    "dateClosed": ("datetime", "closed_time", "Closed on", "ro"),
    "lastActivityBy": ("user", "user", "Last activity by", "ro"),
    "lastActivityTime": ("datetime", "last_activity", "Last activity", "ro"),
    "observers": ("user", "users", "Observers", "multiple"),
}

#: Runs of keys several types share (an UPPER word in a layout stands for its run).
GROUPS = {
    "PERSON": "honorific name secondName lastName birthdate post",
    "SOURCE": "sourceId sourceDescription",
    "MONEY": "currencyId opportunity isManualOpportunity taxValue",
    "CLIENT": "companyId contactId contactIds",
    "DATES": "begindate closedate",
    "FLAGS": "hasPhone hasEmail hasImol",
    "AUDIT": "createdBy updatedBy createdTime updatedTime",
    "MOVED": "movedBy movedTime",
    "LAST": "lastActivityBy lastActivityTime",
    "SPA": "AUDIT MOVED categoryId opened stageId previousStageId DATES CLIENT MONEY mycompanyId "
    "SOURCE assignedById observers LAST",
}

#: The standard fields of each type, in the order crm.item.fields lists them (None: an SPA).
LAYOUTS: dict[int | None, str] = {
    LEAD: "id title PERSON companyTitle SOURCE stageId stageSemanticId statusDescription "
    "currencyId opportunity isManualOpportunity opened comments FLAGS assignedById AUDIT MOVED "
    "CLIENT isReturnCustomer/lead dateClosed LAST observers",
    DEAL: "id title typeId/deal categoryId stageId stageSemanticId isNew isRecurring "
    "isReturnCustomer/deal isRepeatedApproach probability MONEY CLIENT quoteId DATES opened "
    "closed comments assignedById AUDIT MOVED SOURCE leadId LAST observers",
    CONTACT: "id PERSON typeId/contact SOURCE comments opened export FLAGS assignedById AUDIT "
    "companyId/deprecated companyIds leadId LAST observers",
    COMPANY: "id title typeId/company industry employees currencyId revenue opened comments "
    "FLAGS isMyCompany assignedById AUDIT contactIds leadId LAST observers",
    QUOTE: "id title number stageId MONEY CLIENT dealId leadId DATES actualDate opened closed "
    "comments content assignedById AUDIT MOVED LAST",
    SMART_INVOICE: "id xmlId title accountNumber SPA comments",
    None: "id xmlId title SPA parentId2",
}


def _field(key: str, stage_status: str) -> Field:
    """The Field of a STANDARD key (``stageId`` gets the type's stage status)."""
    type_, kind, title, flags = STANDARD[key]
    words = flags.split()
    options = dict(w.split("=", 1) for w in words if "=" in w)
    name = key.split("/", 1)[0]
    return Field(
        name=name,
        type=type_,
        kind=kind,
        upper=upper_name(name),
        multiple="multiple" in words,
        read_only="ro" in words,
        required="required" in words,
        immutable="immutable" in words,
        title=title,
        status_type=stage_status if key == "stageId" else options.get("status"),
        settings={"parentEntityTypeId": int(options["parent"])} if "parent" in options else {},
        deprecated="deprecated" in words,
    )


def _keys(layout: str) -> list[str]:
    """A layout's keys with every group spelled out."""
    out: list[str] = []
    for word in layout.split():
        out += _keys(GROUPS[word]) if word in GROUPS else [word]
    return out


def _standard_fields(entity_type_id: int, is_dynamic: bool) -> tuple[Field, ...]:
    layout = LAYOUTS[None if is_dynamic else entity_type_id]
    status = stage_entity(entity_type_id, 0)
    return tuple(_field(key, status) for key in _keys(layout))


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
