"""Deterministic activity data: compact columns in memory, everything else derived from (seed, id).

A million activities must fit in well under 100 MB, so only the columns the server filters and
sorts on cheaply are stored (``array`` module): id, created, last_updated, start_time, owner,
kind. Every other value -- subjects, descriptions, communications, files, bindings -- is a pure
function of (seed, id, version) and is derived when a row is read. Mutations keep small
overrides (a version counter per updated id, explicit binding lists for rebound ids).
"""

from __future__ import annotations

import json
import random
import re
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, NamedTuple

from .dates import PortalClock
from .fields import field_kinds
from .php import json_encode

M64 = (1 << 64) - 1
NULL_TS = -(2**62)  # START_TIME stored as SQL NULL

OWNER_LEAD, OWNER_DEAL, OWNER_CONTACT, OWNER_COMPANY = 1, 2, 3, 4
OWNER_SMART_INVOICE, OWNER_SMART_PROCESS, OWNER_SMART_PROCESS_2 = 31, 128, 133

CALL, EMAIL, APP, OPENLINE, TODO, MEETING, TASK = range(7)
KIND_TYPE_ID = (2, 4, 6, 6, 6, 1, 3)
KIND_PROVIDER = (
    ("VOXIMPLANT_CALL", "CALL"),
    ("CRM_EMAIL", "EMAIL"),
    ("REST_APP", "APP_ACTIVITY"),
    ("IMOPENLINES_SESSION", "IMOPENLINES_SESSION"),
    ("CRM_TODO", "TODO"),
    ("CRM_MEETING", "MEETING"),
    ("TASKS_TASK", "TASK"),
)
# Cumulative percentages: calls 30, e-mail 20, app 8, open lines 10, to-do 15, meetings 9, tasks 8.
_KIND_CUMULATIVE = (30, 50, 58, 68, 83, 92, 100)
# Owner types: lead 20, deal 35, contact 25, company 10, smart invoice 5, smart processes 5.
_OWNER_CUMULATIVE = (
    (20, OWNER_LEAD),
    (55, OWNER_DEAL),
    (80, OWNER_CONTACT),
    (90, OWNER_COMPANY),
    (95, OWNER_SMART_INVOICE),
    (98, OWNER_SMART_PROCESS),
    (100, OWNER_SMART_PROCESS_2),
)
# Secondary binding types by primary owner type (repeats give two contacts etc. -> join duplicates).
_SECONDARY = {
    OWNER_LEAD: (3, 3, 4),
    OWNER_DEAL: (3, 4, 3),
    OWNER_CONTACT: (2, 4, 2),
    OWNER_COMPANY: (2, 3, 3),
}
_SECONDARY_DEFAULT = (3, 4, 2)

YEAR = 365 * 86400
VARIANTS = 97  # content variants per kind
MARK_N = "\x01"  # in variant texts: replaced by the row's number
# Default columns that differ per row (everything else comes from the variant).
DYNAMIC = (
    "ID",
    "OWNER_ID",
    "OWNER_TYPE_ID",
    "CREATED",
    "LAST_UPDATED",
    "START_TIME",
    "END_TIME",
    "DEADLINE",
    "COMPLETED",
    "STATUS",
    "RESPONSIBLE_ID",
    "AUTHOR_ID",
    "EDITOR_ID",
)
SLOT_ORDER = (*DYNAMIC, "N")
MAX_DEADLINE_DAY = (9999, 12, 31)

_FIRST = (
    "Алексей", "Мария", "Дмитрий", "Ольга", "Никита", "Юлия", "Елена", "Сергей", "Анна", "Павел",
    "Zoë", "John", "José", "Siobhán", "O'Brien", "Łukasz", "Ингрид", "Фёдор", "Ali", "Chloé",
)  # fmt: skip
_LAST = (
    "Иванов", "Лебедева", "Морозов", "Новикова", "Попова", "Соколов", "Фёдоров", "Кузнецова",
    "Smith", "Müller", "García", "Nguyễn", "Dubois", "Коваленко", "Öztürk", "Clark", "Волков",
)  # fmt: skip
_COMPANIES = (
    "Рога & Копыта", "Globex <Intl>", "Stark Industries", 'ООО "Тест/Прод"', "Umbrella GmbH",
    "ИП Сидоров", "Acme Corp.", "Initech", "ЗАО «Северный ветер»", "Müller & Söhne KG",
    "株式会社テスト", "Café «Paris»", "Bluth's Frozen Bananas", "",
)  # fmt: skip
_EMOJI = ("👋", "🇷🇺", "📄", "💬", "⚠️", "🤝", "👨‍👩‍👧", "😀", "✅", "🔥", "📞", "🚚")
_CALL_NOTES = (
    "Клиент просил перезвонить после обеда.\nУточнить условия доставки по заказу №{n}.",
    "Обсудили скидку 5%; ждём подтверждения от Рога & Копыта.",
    "Call summary: customer wants a demo next week; budget approx. ${n}.",
    "Не дозвонились, абонент недоступен.",
    "Договорились о встрече в четверг.\tАдрес: ул. Ленина, д. {n}",
    "Line one\u2028line two (U+2028)\r\nthird line with a backslash \\ and a tab\t.",
    "שלום! Client speaks Hebrew/Arabic: مرحبا — готовит КП.",
    "",
)
_BB_NOTES = (
    "[b]Итоги разговора[/b]\n[list][*]Цена согласована[*]Доставка до {d}[/list]\n[i]{name}[/i]",
    "[url=https://example.com/deal/{n}]Сделка #{n}[/url] — [color=#ff0000]срочно[/color]",
    "[quote]Пришлите, пожалуйста, счёт[/quote]\n[u]Ответственный[/u]: {name}",
)
_HTML_NOTES = (
    "<p>Добрый день, {name}!</p><p>Направляем коммерческое предложение по <b>заказу №{n}</b> "
    "&mdash; см. вложение 📄.</p><p>С уважением,<br>{name2}<br>{company}<br>"
    '<a href="https://example.com/offer?id={n}&utm_source=mail">example.com/offer</a></p>',
    "<div style=\"font-family:'Arial'\">Hello {name},<br/>please find the invoice #{n} "
    "attached.<br/><br/>-- <br/>{company}</div>",
    "<html><body><table><tr><td>Позиция</td><td>Кол-во</td></tr><tr><td>Товар &lt;A&gt;</td>"
    "<td>{n}</td></tr></table><script>alert('x')</script></body></html>",
)
_MEETING_PLACES = (
    "Офис на Тверской, переговорная «Север»",
    "Zoom: https://zoom.us/j/{n}",
    'Кафе "У дома", 2 этаж',
    "",
)
_OPENLINE_CONNECTORS = (
    "vkgroup",
    "whatsappbytwilio",
    "telegrambot",
    "avito",
    "livechat",
    "facebook",
)
_OPENLINE_TITLES = ("Чат WhatsApp", "Telegram", "Avito", "Онлайн-чат", "ВКонтакте", "Facebook")
_TODO_SUBJECTS = (
    "Отправить документы", "Подготовить договор", "Перезвонить клиенту", "Follow up",
    "Согласовать счёт", "Проверить оплату", "",
)  # fmt: skip
_APP_SUBJECTS = (
    'Напоминание: ООО "Тест/Прод"',
    'To-do: check <input> & "quotes" / slashes \\',
    "Синхронизация заказа #{n}",
    "Webhook event {n}",
)
_TASK_SUBJECTS = ("Задача: подготовить КП №{n}", "Задача: выставить счёт", "Task: onboarding call")
_EMAIL_SUBJECTS = (
    "Fwd: Договор поставки {n}",
    "Re: Коммерческое предложение №{n}",
    "Invoice #{n} – payment reminder",
    "Счёт на оплату «{company}»",
    "RE: RE: вопрос по заказу {n} 🚚",
)
_MAIL_DOMAINS = ("example.com", "example.ru", "mail.example.org")


_STATUS_JSON = {"1": b'"1"', "2": b'"2"', "3": b'"3"'}


def mix(x: int) -> int:
    """splitmix64 finaliser: a good 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


class Draw:
    """A tiny deterministic generator (LCG over a splitmix seed): cheap per-row randomness."""

    __slots__ = ("h",)

    def __init__(self, a: int, b: int = 0, c: int = 0, d: int = 0) -> None:
        self.h = mix(
            (a * 0x9E3779B97F4A7C15 ^ b * 0xD1B54A32D192ED03 ^ c * 0xCA5A826395121157 ^ d) & M64
        )

    def n(self, k: int) -> int:
        """Uniform integer in [0, k)."""
        self.h = h = (self.h * 6364136223846793005 + 1442695040888963407) & M64
        return ((h >> 32) * k) >> 32

    def pick(self, seq: tuple[Any, ...] | list[Any]) -> Any:
        """One element of a sequence."""
        self.h = h = (self.h * 6364136223846793005 + 1442695040888963407) & M64
        return seq[((h >> 32) * len(seq)) >> 32]

    def chance(self, percent: int) -> bool:
        """True with the given probability in percent."""
        self.h = h = (self.h * 6364136223846793005 + 1442695040888963407) & M64
        return ((h >> 32) * 100) >> 32 < percent


class Record(NamedTuple):
    """A derived activity: its 39 default columns (API-formatted) and the extras."""

    row: dict[str, Any]
    end: int | None
    deadline: int | None
    files: list[int]
    incoming: str


class Variant(NamedTuple):
    """Static content shared by the rows that draw it; the template prints a row in one go."""

    kind: int
    row: dict[str, Any]
    text_fields: tuple[str, ...]
    template: bytes
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    direction: str


class Dynamic(NamedTuple):
    """Per-row values computed from (seed, id) and the stored columns."""

    ident: int
    variant: Variant
    number: str
    created: int
    updated: int
    start: int | None
    end: int | None
    deadline: int | None
    completed: str
    status: str
    responsible: int
    author: int
    editor: int
    files: tuple[int, ...]


class Dataset:
    """All activities of the portal, with deterministic content and cheap mutation."""

    def __init__(self, count: int, seed: int, anchor: int, clock: PortalClock) -> None:
        self.seed = int(seed)
        self.anchor = int(anchor)
        self.clock = clock
        self.ids = array("q")
        self.created = array("q")
        self.updated = array("q")
        self.start = array("q")
        self.owner_type = array("l")
        self.owner_id = array("q")
        self.kind = array("b")
        self.versions: dict[int, int] = {}
        self.bindings_override: dict[int, list[tuple[int, int]]] = {}
        self.generation = 0
        self.max_id_ever = 0
        self.owner_max = max(50, count // 4)
        self._cache: dict[int, tuple[int, Record]] = {}
        self._settings_cache: dict[tuple[int, int], dict[str, Any] | list[Any]] = {}
        self._max_deadline = clock.local_ts(*MAX_DEADLINE_DAY)
        self._seed_key = mix(self.seed & M64)
        self.variants = [
            [self._make_variant(kind, number) for number in range(VARIANTS)]
            for kind in range(len(KIND_TYPE_ID))
        ]
        self._generate(count)

    # ----------------------------------------------------------------- generation
    def _generate(self, count: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + 17)
        bits = rng.getrandbits
        anchor = self.anchor
        span = 3 * YEAR
        begin = anchor - span
        step = span / max(count, 1)
        jitter_span = max(1, int(step))
        bulk = anchor - 400 * 86400 + 50_417  # one mass update: many rows share this second
        owner_max = self.owner_max
        ids, created, updated, start = self.ids, self.created, self.updated, self.start
        otype, oid, kinds = self.owner_type, self.owner_id, self.kind
        next_id = 1 + bits(4)
        prev_created = begin
        kind_cum = _KIND_CUMULATIVE
        owner_cum = _OWNER_CUMULATIVE
        for k in range(count):
            r = bits(64)
            g = r & 255
            r >>= 8
            if g < 170:
                gap = 1
            elif g < 225:
                gap = 2 + (r & 1)
            elif g < 250:
                gap = 4 + (r & 15)
            else:
                gap = 20 + (r & 511)
            r >>= 9
            ident = next_id
            next_id += gap
            c = begin + int(k * step) + (r & 0xFFFF) % jitter_span
            r >>= 16
            if (r & 31) == 0 or c < prev_created:
                c = prev_created
            r >>= 5
            if c > anchor - 60:
                c = max(prev_created, anchor - 60)
            prev_created = c
            u = r & 1023
            r >>= 10
            if u < 560:
                lu = c
            elif u < 870:
                lu = min(c + (r % (60 * 86400)), anchor - 1)
            elif u < 970:
                lu = max(c, anchor - 1 - (r % (2 * 86400)))
            else:
                lu = bulk if bulk >= c else c
            r2 = bits(64)
            w = r2 % 100
            r2 //= 100
            kind = 0
            while w >= kind_cum[kind]:
                kind += 1
            w = r2 % 100
            r2 //= 100
            ot = next(t for limit, t in owner_cum if w < limit)
            owner = 1 + r2 % owner_max
            r2 //= owner_max
            ids.append(ident)
            created.append(c)
            updated.append(lu)
            start.append(_start_for(kind, c, r2))
            otype.append(ot)
            oid.append(owner)
            kinds.append(kind)
        self.max_id_ever = ids[-1] if ids else 0

    # ----------------------------------------------------------------- lookup
    def __len__(self) -> int:
        return len(self.ids)

    def position(self, ident: int) -> int | None:
        """Position of an activity id, or None when it does not exist."""
        ids = self.ids
        pos = bisect_left(ids, ident)
        if pos < len(ids) and ids[pos] == ident:
            return pos
        return None

    def start_ts(self, pos: int) -> int | None:
        """START_TIME of a position (None when NULL)."""
        value = self.start[pos]
        return None if value == NULL_TS else value

    def record(self, pos: int) -> Record:
        """The derived row of a position (cached per id and version)."""
        ident = self.ids[pos]
        version = self.versions.get(ident, 0)
        cached = self._cache.get(ident)
        if cached is not None and cached[0] == version:
            return cached[1]
        rec = self._derive(pos, ident, version)
        if len(self._cache) > 20_000:
            self._cache.clear()
        self._cache[ident] = (version, rec)
        return rec

    def bindings(self, pos: int) -> list[tuple[int, int]]:
        """All (entityTypeId, entityId) bindings of a position, primary owner first."""
        ident = self.ids[pos]
        override = self.bindings_override.get(ident)
        if override is not None:
            return override
        return self._derived_bindings(ident, self.owner_type[pos], self.owner_id[pos])

    def _derived_bindings(self, ident: int, otype: int, oid: int) -> list[tuple[int, int]]:
        d = Draw(self.seed, ident, 2)
        roll = d.n(100)
        extra = 0 if roll < 35 else 1 if roll < 70 else 2 if roll < 90 else 3
        pairs = [(otype, oid)]
        kinds = _SECONDARY.get(otype, _SECONDARY_DEFAULT)
        for i in range(extra):
            pair = (kinds[i], 1 + d.n(self.owner_max))
            if pair not in pairs:
                pairs.append(pair)
        return pairs

    # ----------------------------------------------------------------- derivation
    def _person(self, etype: int, eid: int) -> tuple[str, str]:
        h = mix((self.seed * 0x9E3779B97F4A7C15 ^ etype << 40 ^ eid ^ 5 << 56) & M64)
        return _FIRST[h % len(_FIRST)], _LAST[(h >> 20) % len(_LAST)]

    def _company(self, cid: int) -> str:
        h = mix((self.seed * 0x9E3779B97F4A7C15 ^ cid ^ 6 << 56) & M64)
        return _COMPANIES[h % len(_COMPANIES)]

    def _phone(self, d: Draw) -> str:
        style = d.n(4)
        digits = f"{d.n(1000):03d}{d.n(1000):03d}{d.n(100):02d}{d.n(100):02d}"
        if style == 0:
            return f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
        if style == 1:
            return "+79" + digits[1:]
        if style == 2:
            return "89" + digits[1:]
        return "+49 30 " + digits[:8]

    def _email(self, d: Draw, first: str) -> str:
        base = "".join(ch for ch in first.lower() if ch.isascii() and ch.isalpha()) or "client"
        return f"{base}.{d.n(1000)}@{d.pick(_MAIL_DOMAINS)}"

    def _entity_settings(self, etype: int, eid: int) -> dict[str, Any] | list[Any]:
        key = (etype, eid)
        cached = self._settings_cache.get(key)
        if cached is None:
            if len(self._settings_cache) > 50_000:
                self._settings_cache.clear()
            cached = self._settings_cache[key] = self._make_entity_settings(etype, eid)
        return cached

    def _make_entity_settings(self, etype: int, eid: int) -> dict[str, Any] | list[Any]:
        first, last = self._person(etype, eid)
        if etype == OWNER_LEAD:
            return {"NAME": first, "LAST_NAME": last, "LEAD_TITLE": f"Лид #{eid}"}
        if etype == OWNER_COMPANY:
            title = self._company(eid)
            return {"COMPANY_TITLE": title} if title else []
        if etype == OWNER_CONTACT:
            company_id = mix(self.seed ^ eid << 8 ^ 7) % (self.owner_max + 1)
            company = self._company(company_id) if company_id else ""
            return {
                "HONORIFIC": "",
                "NAME": first,
                "SECOND_NAME": "",
                "LAST_NAME": last,
                "COMPANY_TITLE": company,
                "COMPANY_ID": company_id,
            }
        return []

    def _communications(
        self, ident: int, kind: int, bindings: list[tuple[int, int]], d: Draw
    ) -> list[dict[str, Any]]:
        if kind in (APP, TASK) or (kind == TODO and d.n(3)):
            return []
        entity = next((b for b in bindings if b[0] == OWNER_CONTACT), None)
        entity = entity or next((b for b in bindings if b[0] in (OWNER_LEAD, OWNER_COMPANY)), None)
        if entity is None:
            return []
        count = 1 + d.n(3) if kind in (CALL, EMAIL) else 1
        items = []
        for k in range(count):
            etype, eid = entity if k == 0 or len(bindings) < 2 else bindings[k % len(bindings)]
            if etype not in (OWNER_LEAD, OWNER_CONTACT, OWNER_COMPANY):
                etype, eid = entity
            first, _ = self._person(etype, eid)
            if kind == CALL or (kind == MEETING and d.n(2)):
                ctype, value = "PHONE", self._phone(d)
            elif kind == EMAIL:
                ctype, value = "EMAIL", self._email(d, first)
            elif kind == OPENLINE:
                conn = d.pick(_OPENLINE_CONNECTORS)
                ctype, value = "IM", f"imol|{conn}|{d.n(20)}|{d.n(99999)}|{d.n(1000)}"
            else:
                ctype, value = "", ""
            items.append(
                {
                    "ID": str(ident * 4 + k),
                    "TYPE": ctype,
                    "VALUE": value,
                    "ENTITY_ID": str(eid),
                    "ENTITY_TYPE_ID": str(etype),
                    "ENTITY_SETTINGS": self._entity_settings(etype, eid),
                }
            )
        return items

    def _make_variant(self, kind: int, number: int) -> Variant:
        """Static content of one of the V content variants of a kind (markers for per-row parts)."""
        d = Draw(self.seed, kind, number, 9)
        first, last = d.pick(_FIRST), d.pick(_LAST)
        name = f"{first} {last}"
        company = d.pick(_COMPANIES)
        emoji = d.pick(_EMOJI) if d.chance(40) else ""
        tail = f" {emoji}" if emoji else ""
        n = MARK_N
        direction = "0"
        settings: dict[str, Any] | list[Any] = []
        provider_params: dict[str, Any] | list[Any] = []
        provider_data: str | None = None
        group: str | None = None
        originator: str | None = None
        origin: str | None = None
        assoc: str | None = "0"
        location = ""
        notify_type, notify_value = "0", "0"
        description: str | None
        description_type: str | None = "1"
        if kind == CALL:
            incoming = d.chance(60)
            direction = "1" if incoming else "2"
            phone = self._phone(d)
            if incoming and d.chance(20):
                subject = f"Пропущенный звонок{tail} {phone}"
                settings = {"MISSED_CALL": True, "CALL_FAILED_CODE": "304"}
            elif incoming:
                subject = f"Входящий звонок {phone}"
            else:
                subject = d.pick((f"Исходящий звонок {phone}", f"Outgoing call to {name}"))
            description = d.pick(_CALL_NOTES).format(n=n) + tail
            origin = f"VI_{d.n(1 << 32):08x}.{n}"
        elif kind == EMAIL:
            direction = d.pick(("1", "2"))
            subject = d.pick(_EMAIL_SUBJECTS).format(n=n, company=company)
            description_type = "3"
            description = d.pick(_HTML_NOTES).format(
                n=n, name=first, name2=name, company=company or "Acme"
            )
            meta = {
                "__email": f"office{d.n(999)}@{d.pick(_MAIL_DOMAINS)}",
                "from": self._email(d, first),
                "replyTo": "",
                "to": f"manager{d.n(99)}@example.com",
                "cc": "",
                "bcc": "",
            }
            settings = {"EMAIL_META": meta, "IS_BATCH_MANAGER": False}
            notify_value = None
            origin = d.pick(("", f"<{d.n(1 << 30):x}.{n}@mail.example.org>"))
        elif kind == APP:
            group = f"local.{d.n(1 << 32):08x}"
            subject = d.pick(_APP_SUBJECTS).format(n=n) + tail
            description_type = "2"
            description = d.pick(_BB_NOTES).format(n=n, d="21.07", name=name)
            originator = f"app.{d.n(40)}"
            origin = f"ext-{d.n(99)}{n}"
            provider_data = f'{{"source":"app","n":{n}}}'
            notify_value = None
            if d.chance(30):
                provider_params = {"APP_ID": str(d.n(90) + 10), "BADGE": "new"}
        elif kind == OPENLINE:
            idx = d.n(len(_OPENLINE_TITLES))
            group = _OPENLINE_CONNECTORS[idx]
            subject = f"{_OPENLINE_TITLES[idx]}: {name} 💬"
            direction = "1"
            assoc = f"{1 + d.n(9)}{n}"
            originator = "IMOPENLINES"
            origin = f"imol|{d.n(99)}{n}"
            description = d.pick(_CALL_NOTES).format(n=n)
            notify_type, notify_value = "1", "15"
            if d.chance(50):
                provider_params = {"USER_CODE": f"imol|{group}|1|{d.n(99999)}|{d.n(999)}"}
        elif kind == TODO:
            subject = d.pick(_TODO_SUBJECTS) + tail
            if d.chance(40):
                description, description_type = None, None
            else:
                description = d.pick(_CALL_NOTES).format(n=n)
            if d.chance(50):
                settings = {"PING_OFFSETS": [0, 15]}
        elif kind == MEETING:
            subject = f"Встреча с {name}" if d.chance(70) else f"Meeting: {company or 'client'}"
            location = d.pick(_MEETING_PLACES).format(n=n)
            notify_type, notify_value = "2", "1"
            description = d.pick(_BB_NOTES).format(n=n, d="12.03", name=name)
            description_type = "2"
        else:  # TASK
            subject = d.pick(_TASK_SUBJECTS).format(n=n)
            assoc = f"{1 + d.n(9)}{n}"
            description = d.pick(_BB_NOTES).format(n=n, d="01.09", name=name)
            description_type = "2"
        if d.chance(3):
            assoc = None
        priority = "2"
        roll = d.n(100)
        if roll < 8:
            priority = "1"
        elif roll > 88:
            priority = "3"
        result_value = result_sum = currency = None
        if d.chance(5):
            result_value = "1.0000"
            result_sum = f"{d.n(100_000)}.{d.n(10_000):04d}"
            currency = d.pick(("RUB", "USD", "EUR"))
        provider = KIND_PROVIDER[kind]
        row: dict[str, Any] = {
            "ID": "",
            "OWNER_ID": "",
            "OWNER_TYPE_ID": "",
            "TYPE_ID": str(KIND_TYPE_ID[kind]),
            "PROVIDER_ID": provider[0],
            "PROVIDER_TYPE_ID": provider[1],
            "PROVIDER_GROUP_ID": group,
            "ASSOCIATED_ENTITY_ID": assoc,
            "SUBJECT": subject,
            "CREATED": "",
            "LAST_UPDATED": "",
            "START_TIME": "",
            "END_TIME": "",
            "DEADLINE": "",
            "COMPLETED": "",
            "STATUS": "",
            "RESPONSIBLE_ID": "",
            "PRIORITY": priority,
            "NOTIFY_TYPE": notify_type,
            "NOTIFY_VALUE": notify_value,
            "DESCRIPTION": description,
            "DESCRIPTION_TYPE": description_type,
            "DIRECTION": direction,
            "LOCATION": location,
            "SETTINGS": settings,
            "ORIGINATOR_ID": originator,
            "ORIGIN_ID": origin,
            "AUTHOR_ID": "",
            "EDITOR_ID": "",
            "PROVIDER_PARAMS": provider_params,
            "PROVIDER_DATA": provider_data,
            "RESULT_MARK": "0",
            "RESULT_VALUE": result_value,
            "RESULT_SUM": result_sum,
            "RESULT_CURRENCY_ID": currency,
            "RESULT_STATUS": "0",
            "RESULT_STREAM": "4" if kind == TODO and d.chance(30) else "0",
            "RESULT_SOURCE_ID": None,
            "AUTOCOMPLETE_RULE": "1" if d.chance(5) else "0",
        }
        text_fields = tuple(
            k for k, v in row.items() if isinstance(v, str) and MARK_N in v and k not in DYNAMIC
        )
        marked = dict(row)
        for field in DYNAMIC:
            marked[field] = f"\x02{field}\x02"
        text = json_encode(marked).replace(b"%", b"%%")
        # Slots in order of appearance: whole quoted values of DYNAMIC columns, and the number.
        slot = re.compile(rb'"\\u0002([A-Z_]+)\\u0002"|\\u0001')
        slots = tuple(m.group(1).decode() if m.group(1) else "N" for m in slot.finditer(text))
        template = slot.sub(b"%s", text)
        pick = itemgetter(*[SLOT_ORDER.index(name) for name in slots])
        return Variant(kind, row, text_fields, template, pick, direction)

    def _core(self, pos: int) -> tuple[Any, ...]:
        """Per-row values from (seed, id) and the stored columns, as a plain tuple (hot path).

        (ident, variant, number, created, updated, start, end, deadline, finished, status,
        responsible, author, editor, leftover hash bits)
        """
        ident = self.ids[pos]
        h = mix((self._seed_key ^ ident * 0xD1B54A32D192ED03) & M64)
        kind = self.kind[pos]
        variant = self.variants[kind][(h & 0xFFFF) % VARIANTS]
        h >>= 16
        number = str(100 + (h & 0x3FFF) % 9900)
        h >>= 14
        created = self.created[pos]
        start = self.start[pos]
        if start == NULL_TS:
            start = None
        spread = h & 0xFFFFF
        h = mix(h ^ 0x5DEECE66D)  # fresh bits for the rest
        deadline = end = start
        if kind == CALL:
            end = (start or created) + spread % 1500
        elif kind == OPENLINE:
            end = created + spread % 28_800
            deadline = self._max_deadline
        elif kind == TODO:
            if start is None:
                deadline = self._max_deadline if spread % 10 < 6 else created + spread % 2_592_000
        elif kind == MEETING:
            end = (start or created) + 3600
        elif kind == TASK:
            end = deadline = created + 86400 * (1 + spread % 20)
        responsible = 1 + (h & 63) % 40
        author = 1 + ((h >> 6) & 63) % 40
        editor = author if (h >> 12) & 1 else 1 + ((h >> 13) & 63) % 40
        roll = (h >> 19) % 100
        h >>= 26
        status_roll = h % 5
        h >>= 3
        if kind == OPENLINE:
            finished = created < self.anchor - 7 * 86400 or roll < 50
        else:
            finished = (deadline is not None and deadline < self.anchor - 86400) or roll < 30
        status = ("3" if status_roll == 0 else "2") if finished else "1"
        return (
            ident,
            variant,
            number,
            created,
            self.updated[pos],
            start,
            end,
            deadline,
            finished,
            status,
            responsible,
            author,
            editor,
            h,
        )

    def _dynamic(self, pos: int) -> Dynamic:
        """The per-row values: which variant, the number in its texts, times, people, status."""
        core = self._core(pos)
        ident, variant, h = core[0], core[1], core[13]
        file_roll = h % 100
        h >>= 7
        files: tuple[int, ...] = ()
        if file_roll < (25 if variant.kind == EMAIL else 4):
            files = tuple(ident * 8 + k for k in range(1 + h % 3))
        return Dynamic(*core[:8], "Y" if core[8] else "N", *core[9:13], files)

    def fragment(self, pos: int) -> bytes:
        """The row's JSON for the default select, exactly as :func:`json_encode` would print it.

        The hot path of every list call: the variant's byte template filled with the row's
        values, picked into slot order by a precomputed itemgetter.
        """
        ident = self.ids[pos]
        if ident in self.versions:
            return json_encode(self.record(pos).row)
        (_, variant, number, created, updated, start, end, deadline, finished, status,
         responsible, author, editor, _) = self._core(pos)  # fmt: skip
        fmt = self.clock.fmt_json
        created_text = fmt(created)
        updated_text = created_text if updated == created else fmt(updated)
        start_text = created_text if start == created else fmt(start)
        end_text = start_text if end == start else fmt(end)
        if deadline == start:
            deadline_text = start_text
        elif deadline == end:
            deadline_text = end_text
        else:
            deadline_text = fmt(deadline)
        values = (
            b'"%d"' % ident,
            b'"%d"' % self.owner_id[pos],
            b'"%d"' % self.owner_type[pos],
            created_text,
            updated_text,
            start_text,
            end_text,
            deadline_text,
            b'"Y"' if finished else b'"N"',
            _STATUS_JSON[status],
            b'"%d"' % responsible,
            b'"%d"' % author,
            b'"%d"' % editor,
            number.encode(),
        )
        return variant.template % variant.pick(values)

    def _derive(self, pos: int, ident: int, version: int) -> Record:
        dyn = self._dynamic(pos)
        variant = dyn.variant
        fmt = self.clock.fmt
        row = variant.row.copy()
        number = dyn.number
        for field in variant.text_fields:
            row[field] = row[field].replace(MARK_N, number)
        row["ID"] = str(ident)
        row["OWNER_ID"] = str(self.owner_id[pos])
        row["OWNER_TYPE_ID"] = str(self.owner_type[pos])
        row["CREATED"] = fmt(dyn.created)
        row["LAST_UPDATED"] = fmt(dyn.updated)
        row["START_TIME"] = fmt(dyn.start)
        row["END_TIME"] = fmt(dyn.end)
        row["DEADLINE"] = fmt(dyn.deadline)
        completed, status = dyn.completed, dyn.status
        editor = dyn.editor
        if version:
            v = Draw(self.seed, ident, version, 3)
            editor = 1 + v.n(40)
            if version % 2:
                completed, status = "Y", "2"
            if row["DESCRIPTION"] is not None:
                row["DESCRIPTION"] = f"{row['DESCRIPTION']}\n[изменено #{version}]"
        row["COMPLETED"] = completed
        row["STATUS"] = status
        row["RESPONSIBLE_ID"] = str(dyn.responsible)
        row["AUTHOR_ID"] = str(dyn.author)
        row["EDITOR_ID"] = str(editor)
        incoming = (
            "Y"
            if completed == "N" and (variant.kind == OPENLINE or variant.direction == "1")
            else "N"
        )
        return Record(row, dyn.end, dyn.deadline, list(dyn.files), incoming)

    def communications(self, pos: int) -> list[dict[str, Any]]:
        """COMMUNICATIONS items of a position, ordered by communication ID."""
        ident = self.ids[pos]
        return self._communications(
            ident, self.kind[pos], self.bindings(pos), Draw(self.seed, ident, 4)
        )

    # ----------------------------------------------------------------- mutation
    def _changed(self) -> None:
        self.generation += 1

    def pick_existing(self, rng: random.Random, count: int, exclude: set[int]) -> list[int]:
        """Up to `count` distinct random existing ids not in `exclude`, in ascending order."""
        available = len(self.ids) - len(exclude)
        count = max(0, min(count, available))
        chosen: set[int] = set()
        ids = self.ids
        while len(chosen) < count:
            ident = ids[rng.randrange(len(ids))]
            if ident not in exclude:
                chosen.add(ident)
        return sorted(chosen)

    def update(self, idents: Iterable[int], now: int) -> list[int]:
        """Edit activities: new content version, LAST_UPDATED = now."""
        done = []
        for ident in idents:
            pos = self.position(ident)
            if pos is None:
                continue
            self.versions[ident] = self.versions.get(ident, 0) + 1
            self.updated[pos] = max(now, self.created[pos])
            self._cache.pop(ident, None)
            done.append(ident)
        self._changed()
        return done

    def rebind(self, idents: Iterable[int], rng: random.Random, now: int) -> list[int]:
        """Add or remove a secondary binding (the primary owner stays); LAST_UPDATED = now."""
        done = []
        for ident in idents:
            pos = self.position(ident)
            if pos is None:
                continue
            pairs = list(self.bindings(pos))
            if len(pairs) > 1 and (len(pairs) >= 4 or rng.random() < 0.4):
                pairs.pop(1 + rng.randrange(len(pairs) - 1))
            else:
                for _ in range(10):
                    pair = (rng.choice((2, 3, 4)), 1 + rng.randrange(self.owner_max))
                    if pair not in pairs:
                        pairs.append(pair)
                        break
            self.bindings_override[ident] = pairs
            self.updated[pos] = max(now, self.created[pos])
            self._cache.pop(ident, None)
            done.append(ident)
        self._changed()
        return done

    def insert(self, count: int, rng: random.Random, now: int) -> list[int]:
        """New activities above the highest id ever used; CREATED = LAST_UPDATED = now."""
        done = []
        for _ in range(count):
            ident = self.max_id_ever + 1 + rng.randrange(3)
            self.max_id_ever = ident
            w = rng.randrange(100)
            kind = next(i for i, limit in enumerate(_KIND_CUMULATIVE) if w < limit)
            w = rng.randrange(100)
            otype = next(t for limit, t in _OWNER_CUMULATIVE if w < limit)
            self.ids.append(ident)
            self.created.append(now)
            self.updated.append(now)
            self.start.append(_start_for(kind, now, rng.getrandbits(40)))
            self.owner_type.append(otype)
            self.owner_id.append(1 + rng.randrange(self.owner_max))
            self.kind.append(kind)
            done.append(ident)
        self._changed()
        return done

    def delete(self, idents: Iterable[int]) -> list[int]:
        """Hard deletes: the rows disappear."""
        done = []
        for ident in idents:
            pos = self.position(ident)
            if pos is None:
                continue
            for column in (
                self.ids,
                self.created,
                self.updated,
                self.start,
                self.owner_type,
                self.owner_id,
                self.kind,
            ):
                del column[pos]
            self.versions.pop(ident, None)
            self.bindings_override.pop(ident, None)
            self._cache.pop(ident, None)
            done.append(ident)
        self._changed()
        return done

    # ----------------------------------------------------------------- raw access
    def column(self, field: str) -> array | None:
        """The stored column of a field, when it has one (START_TIME holds NULL as NULL_TS)."""
        return {
            "ID": self.ids,
            "CREATED": self.created,
            "LAST_UPDATED": self.updated,
            "START_TIME": self.start,
            "OWNER_ID": self.owner_id,
            "OWNER_TYPE_ID": self.owner_type,
        }.get(field)

    def getter(self, field: str) -> Callable[[int], Any]:
        """Pos -> the field's SQL value (int / str / epoch seconds / float / None)."""
        direct: dict[str, Callable[[int], Any]] = {
            "ID": self.ids.__getitem__,
            "OWNER_ID": self.owner_id.__getitem__,
            "OWNER_TYPE_ID": self.owner_type.__getitem__,
            "CREATED": self.created.__getitem__,
            "LAST_UPDATED": self.updated.__getitem__,
            "START_TIME": self.start_ts,
        }
        if field in direct:
            return direct[field]
        kind = self.kind
        record = self.record
        if field == "TYPE_ID":
            return lambda p: KIND_TYPE_ID[kind[p]]
        if field == "PROVIDER_ID":
            return lambda p: KIND_PROVIDER[kind[p]][0]
        if field == "PROVIDER_TYPE_ID":
            return lambda p: KIND_PROVIDER[kind[p]][1]
        if field == "END_TIME":
            return lambda p: record(p).end
        if field == "DEADLINE":
            return lambda p: record(p).deadline
        if field == "IS_INCOMING_CHANNEL":
            return lambda p: record(p).incoming
        compare = field_kinds().get(field)
        if compare == "int":
            return lambda p: _to_int(record(p).row.get(field))
        if compare == "double":
            return lambda p: _to_float(record(p).row.get(field))
        if compare == "object":
            return lambda p: _object_text(record(p).row.get(field))
        return lambda p: record(p).row.get(field)


def _to_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _to_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _object_text(value: Any) -> str:
    """SETTINGS-like columns compare as their stored text; empty ones as ''."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else ""


def _start_for(kind: int, created: int, r: int) -> int:
    """START_TIME by kind: calls start before the record, meetings later, to-dos often NULL."""
    if kind == CALL:
        return created - r % 1800
    if kind == APP:
        return created + r % (10 * 86400)
    if kind == TODO:
        return NULL_TS if r % 10 < 6 else created + (r // 10) % (14 * 86400)
    if kind == MEETING:
        at = created + 86400 + r % (13 * 86400)
        return at - at % 1800
    return created
