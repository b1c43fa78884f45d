"""What activities say: seeded text pools, content variants and communications.

Rows share a limited set of content variants per kind (97), each printed once into a byte
template with slots for the per-row values; that keeps a list page cheap to print while subjects
and descriptions still carry unicode, emoji, HTML, BB code, quotes and line separators.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NamedTuple

from .php import json_encode

M64 = (1 << 64) - 1

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
KIND_CUMULATIVE = (30, 50, 58, 68, 83, 92, 100)
# Owner types: lead 20, deal 35, contact 25, company 10, smart invoice 5, smart processes 5.
OWNER_CUMULATIVE = (
    (20, OWNER_LEAD),
    (55, OWNER_DEAL),
    (80, OWNER_CONTACT),
    (90, OWNER_COMPANY),
    (95, OWNER_SMART_INVOICE),
    (98, OWNER_SMART_PROCESS),
    (100, OWNER_SMART_PROCESS_2),
)
# Secondary binding types by primary owner type (repeats give two contacts etc. -> join duplicates).
SECONDARY = {
    OWNER_LEAD: (3, 3, 4),
    OWNER_DEAL: (3, 4, 3),
    OWNER_CONTACT: (2, 4, 2),
    OWNER_COMPANY: (2, 3, 3),
}
SECONDARY_DEFAULT = (3, 4, 2)

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


def mix(x: int) -> int:
    """splitmix64 finaliser: a good 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


#: ``h < _CHANCE[p]`` exactly when ``((h >> 32) * 100) >> 32 < p`` (for 0 <= h < 2**64).
_CHANCE = tuple(-(-(p << 32) // 100) << 32 for p in range(101))


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
        """True with the given probability in percent (0..100).

        The same as ``((h >> 32) * 100) >> 32 < percent``, as one comparison with a threshold.
        """
        self.h = h = (self.h * 6364136223846793005 + 1442695040888963407) & M64
        return h < _CHANCE[percent]


class Variant(NamedTuple):
    """Static content shared by the rows that draw it; the template prints a row in one go."""

    kind: int
    row: dict[str, Any]
    text_fields: tuple[str, ...]
    template: bytes
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    direction: str


class Content:
    """Deterministic content for one seed."""

    def __init__(self, seed: int, owner_max: int) -> None:
        self.seed = seed
        self.owner_max = owner_max
        self._settings_cache: dict[tuple[int, int], dict[str, Any] | list[Any]] = {}

    def person(self, etype: int, eid: int) -> tuple[str, str]:
        """(first name, last name) of a CRM entity: stable for the entity."""
        h = mix((self.seed * 0x9E3779B97F4A7C15 ^ etype << 40 ^ eid ^ 5 << 56) & M64)
        return _FIRST[h % len(_FIRST)], _LAST[(h >> 20) % len(_LAST)]

    def company(self, cid: int) -> str:
        """Title of a company (may be empty)."""
        h = mix((self.seed * 0x9E3779B97F4A7C15 ^ cid ^ 6 << 56) & M64)
        return _COMPANIES[h % len(_COMPANIES)]

    def phone(self, d: Draw) -> str:
        """A phone number in one of the formats people type."""
        style = d.n(4)
        digits = f"{d.n(1000):03d}{d.n(1000):03d}{d.n(100):02d}{d.n(100):02d}"
        if style == 0:
            return f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
        if style == 1:
            return "+79" + digits[1:]
        if style == 2:
            return "89" + digits[1:]
        return "+49 30 " + digits[:8]

    def email(self, d: Draw, first: str) -> str:
        """An e-mail address derived from a first name."""
        base = "".join(ch for ch in first.lower() if ch.isascii() and ch.isalpha()) or "client"
        return f"{base}.{d.n(1000)}@{d.pick(_MAIL_DOMAINS)}"

    def entity_settings(self, etype: int, eid: int) -> dict[str, Any] | list[Any]:
        """ENTITY_SETTINGS of a communication: an object, or [] when empty."""
        key = (etype, eid)
        cached = self._settings_cache.get(key)
        if cached is None:
            if len(self._settings_cache) > 50_000:
                self._settings_cache.clear()
            cached = self._settings_cache[key] = self._make_entity_settings(etype, eid)
        return cached

    def _make_entity_settings(self, etype: int, eid: int) -> dict[str, Any] | list[Any]:
        first, last = self.person(etype, eid)
        if etype == OWNER_LEAD:
            return {"NAME": first, "LAST_NAME": last, "LEAD_TITLE": f"Лид #{eid}"}
        if etype == OWNER_COMPANY:
            title = self.company(eid)
            return {"COMPANY_TITLE": title} if title else []
        if etype == OWNER_CONTACT:
            company_id = mix(self.seed ^ eid << 8 ^ 7) % (self.owner_max + 1)
            company = self.company(company_id) if company_id else ""
            return {
                "HONORIFIC": "",
                "NAME": first,
                "SECOND_NAME": "",
                "LAST_NAME": last,
                "COMPANY_TITLE": company,
                "COMPANY_ID": company_id,
            }
        return []

    def communications(
        self, ident: int, kind: int, bindings: list[tuple[int, int]], d: Draw, base: int
    ) -> list[dict[str, Any]]:
        """COMMUNICATIONS items (0-3), ordered by ID, for an activity of a kind.

        Their IDs are ``base``, ``base + 1``, ...: the server re-inserts them with new IDs
        whenever the activity is saved, so the base moves (see ``Dataset.comm_base``).
        """
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
            first, _ = self.person(etype, eid)
            if kind == CALL or (kind == MEETING and d.n(2)):
                ctype, value = "PHONE", self.phone(d)
            elif kind == EMAIL:
                ctype, value = "EMAIL", self.email(d, first)
            elif kind == OPENLINE:
                conn = d.pick(_OPENLINE_CONNECTORS)
                ctype, value = "IM", f"imol|{conn}|{d.n(20)}|{d.n(99999)}|{d.n(1000)}"
            else:
                ctype, value = "", ""
            items.append(
                {
                    "ID": str(base + k),
                    "TYPE": ctype,
                    "VALUE": value,
                    "ENTITY_ID": str(eid),
                    "ENTITY_TYPE_ID": str(etype),
                    "ENTITY_SETTINGS": self.entity_settings(etype, eid),
                }
            )
        return items

    def variant(self, kind: int, number: int) -> Variant:
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
        notify_value: str | None
        notify_type, notify_value = "0", "0"
        description: str | None
        description_type: str | None = "1"
        if kind == CALL:
            incoming = d.chance(60)
            direction = "1" if incoming else "2"
            phone = self.phone(d)
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
                "from": self.email(d, first),
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
            whole = d.n(100_000)
            if whole % 4 == 0:  # DECIMAL(18,4)'s full 14 integer digits: more than a float holds
                whole = whole * 1_000_000_000 + 123_456_789
            result_sum = f"{whole}.{d.n(10_000):04d}"
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
