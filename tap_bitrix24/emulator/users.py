"""``user.get`` and ``department.get`` over a fixed staff (crm API doc §4.2, §4.3).

Users 1..12 are the ones CRM items are assigned to; more follow so that paging shows. Dismissed
users come back too (ACTIVE is not filtered by default); a filter on ACTIVE is normalised as the
server does (``$value && $value !== 'N'``: the string ``"false"`` means active).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .crm_values import FIRST_NAMES, LAST_NAMES
from .errors import ApiError
from .list_params import paged, split_operator
from .methods import CallResult
from .php import is_array, php_intval

if TYPE_CHECKING:
    from .portal import CallContext

USER_COUNT = 75
DEPARTMENT_COUNT = 60
DAY = 86400
#: What a ``user_brief``/``user_basic`` caller gets (user.php ALLOWED_USER_NAME_FIELDS).
BRIEF_FIELDS = (
    "ID", "XML_ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "TITLE", "IS_ONLINE",
    "TIME_ZONE", "TIMESTAMP_X", "DATE_REGISTER", "PERSONAL_GENDER", "PERSONAL_BIRTHDAY",
    "WORK_POSITION", "LAST_ACTIVITY_DATE", "UF_DEPARTMENT",
)  # fmt: skip
USER_SCOPES = ("user", "user_basic", "user_brief")
POSITIONS = ("Sales manager", "Менеджер", "Support", "Head of sales", "")


def dismissed(ident: int) -> bool:
    """Every seventh user and user 12 have left (their old items stay assigned to them)."""
    return ident == 12 or ident % 7 == 0


def department_rows() -> list[dict[str, Any]]:
    """1 is the company; 2..6 hang under it; the rest under 2..6 in turn."""
    rows = []
    for ident in range(1, DEPARTMENT_COUNT + 1):
        row: dict[str, Any] = {
            "ID": str(ident),
            "NAME": "Company" if ident == 1 else f"Department {ident} — отдел",
            "SORT": str(500 if ident == 1 else 100 + ident * 10),
        }
        if ident > 1:
            row["PARENT"] = "1" if ident <= 6 else str(2 + (ident - 7) % 5)
        row["UF_HEAD"] = str(1 + ident % 12) if ident % 3 else ""
        rows.append(row)
    return rows


def user_departments(ident: int) -> list[int]:
    first = 1 if ident == 1 else 2 + ident % (DEPARTMENT_COUNT - 1)
    return [first, 7 + ident % 50] if ident % 5 == 0 else [first]


def user_rows(anchor: int, fmt: Callable[[int], str]) -> list[dict[str, Any]]:
    """Every user as the ``user`` scope prints them, in ID order, plus internal ``_changed``."""
    rows = []
    for ident in range(1, USER_COUNT + 1):
        registered = (anchor - 900 * DAY + ident * 3 * DAY) // DAY * DAY
        rows.append(
            {
                "ID": str(ident),
                "XML_ID": f"user-{ident}",
                "ACTIVE": not dismissed(ident),
                "NAME": FIRST_NAMES[ident % len(FIRST_NAMES)],
                "LAST_NAME": LAST_NAMES[ident % len(LAST_NAMES)],
                "SECOND_NAME": "",
                "TITLE": "",
                "EMAIL": f"user{ident}@example.com",
                "LAST_LOGIN": fmt(anchor - ident * 3600) if not dismissed(ident) else "",
                "DATE_REGISTER": fmt(registered),
                "LID": "s1",
                "IS_ONLINE": "Y" if ident % 4 == 1 else "N",
                "TIME_ZONE": "",
                "TIMESTAMP_X": {},
                "LAST_ACTIVITY_DATE": {},
                "PERSONAL_GENDER": "M" if ident % 2 else "F",
                "PERSONAL_BIRTHDAY": fmt((anchor - (25 + ident % 30) * 365 * DAY) // DAY * DAY),
                "PERSONAL_MOBILE": f"+7 900 000-{ident:02d}-{ident:02d}",
                "WORK_POSITION": POSITIONS[ident % len(POSITIONS)],
                "WORK_PHONE": "",
                "UF_DEPARTMENT": user_departments(ident),
                "UF_EMPLOYMENT_DATE": "",
                "USER_TYPE": "employee",
                "_changed": anchor - (ident % 40) * DAY,
            }
        )
    return rows


def php_truthy(value: Any) -> bool:
    if value is None or value is False or value == 0 or value in ("", "0"):
        return False
    return not (is_array(value) and not value)


def _active_flag(value: Any) -> bool:
    """``($value && $value !== 'N') ? 'Y' : 'N'``."""
    return php_truthy(value) and value != "N"


def _user_filter(raw: dict[str, Any], ctx: CallContext) -> Callable[[dict[str, Any]], bool]:
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for key, value in raw.items():
        key = str(key).upper()
        op, name = split_operator(key, (">=", "<=", "!", ">", "<", "="))
        if name == "ACTIVE":
            want = _active_flag(value)
            tests.append(_equals("ACTIVE", want))
        elif name == "UF_DEPARTMENT":
            wanted = {php_intval(v) for v in (value if isinstance(value, list) else [value])}
            tests.append(_in_department(wanted))
        elif name in ("ID", "TIMESTAMP_X"):
            if name == "ID":
                number = php_intval(value)
            else:
                parsed = ctx.portal.clock.parse(value, ctx.now)
                number = 0 if parsed is None else parsed
            field = "ID" if name == "ID" else "_changed"
            tests.append(_numeric(op, field, number))
        elif name in ("NAME", "LAST_NAME", "EMAIL", "USER_TYPE", "XML_ID"):
            text = str(value).lower()
            tests.append(_text_equals(name, text))
    return lambda r: all(t(r) for t in tests)


def _equals(field: str, want: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda row: bool(row[field] == want)


def _in_department(wanted: set[int]) -> Callable[[dict[str, Any]], bool]:
    return lambda row: bool(wanted & set(row["UF_DEPARTMENT"]))


def _text_equals(field: str, text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda row: str(row[field]).lower() == text


def _numeric(op: str, field: str, number: int) -> Callable[[dict[str, Any]], bool]:
    def check(row: dict[str, Any]) -> bool:
        actual = php_intval(row[field])
        if op == ">":
            return actual > number
        if op == ">=":
            return actual >= number
        if op == "<":
            return actual < number
        if op == "<=":
            return actual <= number
        if op == "!":
            return actual != number
        return actual == number

    return check


def user_get(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``user.get``: ``sort``/``order``, ``FILTER`` or top-level filter keys, 50 a page."""
    granted = [s for s in USER_SCOPES if s in ctx.portal.settings.scope]
    if not granted:
        raise ApiError("insufficient_scope")
    raw: dict[str, Any] = {}
    for key, value in params.items():
        if str(key).upper() in ("SORT", "ORDER", "START", "ADMIN_MODE", "SELECT", "AUTH"):
            continue
        if str(key).upper() == "FILTER" and isinstance(value, dict):
            raw.update(value)
        else:
            raw[key] = value
    keep = _user_filter(raw, ctx)
    rows = [r for r in user_rows(ctx.portal.anchor, ctx.portal.clock.fmt) if keep(r)]
    sort = str(params.get("sort", params.get("SORT", "ID"))).upper()
    desc = str(params.get("order", params.get("ORDER", "ASC"))).upper() == "DESC"
    if rows and sort in rows[0] and sort != "_CHANGED":
        numeric = sort == "ID"
        rows.sort(key=lambda r: php_intval(r[sort]) if numeric else str(r[sort]), reverse=desc)
    full = "user" in granted
    printed = [
        {k: v for k, v in r.items() if k != "_changed" and (full or k in BRIEF_FIELDS)}
        for r in rows
    ]
    return paged(printed, php_intval(params.get("start", 0)), ctx.portal.settings.cost_other)


def department_get(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``department.get``: filters ID/NAME/SORT/PARENT/UF_HEAD; paging by lowercase ``start``."""
    raw: dict[str, Any] = {}
    for key, value in params.items():
        # Filter keys are UPPER (``SORT`` filters, lowercase ``sort`` orders).
        if str(key).upper() == "FILTER" and isinstance(value, dict):
            raw.update({str(k).upper(): v for k, v in value.items()})
        elif key in ("ID", "NAME", "SORT", "PARENT", "UF_HEAD"):
            raw[key] = value
    rows = department_rows()
    for name, value in raw.items():
        if name not in ("ID", "NAME", "SORT", "PARENT", "UF_HEAD"):
            continue
        values = {str(v) for v in (value if isinstance(value, list) else [value])}
        rows = [r for r in rows if str(r.get(name, "")) in values]
    sort = str(params.get("sort", "SORT")).upper()
    desc = str(params.get("order", "ASC")).upper() == "DESC"
    if sort in ("ID", "SORT", "PARENT", "UF_HEAD"):
        rows.sort(key=lambda r: php_intval(r.get(sort, 0)), reverse=desc)
    elif sort == "NAME":
        rows.sort(key=lambda r: r["NAME"], reverse=desc)
    start = php_intval(params.get("start", 0))  # `START` (the docs' spelling) is not read
    return paged(rows, max(start, 0), ctx.portal.settings.cost_other)


USER_METHODS: dict[str, tuple[Callable[[dict[str, Any], CallContext], CallResult], str | None]] = {
    "user.get": (user_get, None),  # `user`, or its alternatives `user_basic`/`user_brief`
    "department.get": (department_get, "department"),
}
