"""The guide's methods, request directions and section headings, as the guide names them.

Cases cite sections (``CaseInfo.section``); the report groups by them and the
diagnoses name the method a URL reaches. One table, read by both.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: The guide's methods (3.1.3), named by the last segment of their URL (1.3).
METHODS = ("call_events", "call_back", "get_record")
#: Direction as the guide's request log sees it (3.2.3): notifications go to
#: the CRM, call_back and get_record come from it.
DIRECTIONS = {"call_events": "to-crm", "call_back": "from-crm", "get_record": "from-crm"}
#: The guide's (2017) headings of the sections cases cite: title, then the
#: interface a section of Appendix А describes.
SECTIONS: dict[str, tuple[str, str | None]] = {
    "1.3": ("Описание взаимодействия Интеграционного API с внешней системой", None),
    "1.4.1": ("Формирование заголовков", None),
    "1.4.2": ("Проверка подписи", None),
    "1.4.3": ("Настройка сертификатов", None),
    "3.1.1": ("Настройка параметров", None),
    "3.1.2": ("Настройка белого списка IP-адресов", None),
    "3.1.3": ("Методы API", None),
    "3.2.1": ("Настройки тестовых запросов", None),
    "3.2.3": ("Лог запросов/ответов", None),
    "А.2": ("Уведомления и запросы от API СП", "Уведомление о вызовах (call_events)"),
    "А.3": (
        "Уведомления и запросы от внешней системы",
        "Запрос на совершение исходящего вызова (call_back)",
    ),
    "А.4": ("Запрос записи разговора", "get_record"),
}


def method_of(url: str) -> str:
    """``call_events``, ``call_back``, ``get_record`` (the URL's last path segment) or ``other``."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return "other"
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last if last in METHODS else "other"


def direction_of(method: str) -> str:
    """``to-crm``, ``from-crm`` (guide 3.2.3), or ``other`` for what is neither."""
    return DIRECTIONS.get(method, "other")


def section_key(section: str) -> str:
    """A section number as the guide spells it (the appendix letter is Cyrillic А)."""
    text = section.strip()
    return "А" + text[1:] if text[:1] in ("A", "а", "a") else text


def section_anchor(section: str) -> str:
    """The id of a section's block in the page: ``sec-1-4-2``, ``sec-A-2``."""
    ascii_ = section_key(section).replace("А", "A")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_).strip("-")
    return f"sec-{slug or 'none'}"


def section_heading(section: str) -> str:
    """``1.4.2 Проверка подписи``: the number and the guide's title, when known."""
    key = section_key(section)
    known = SECTIONS.get(key)
    if known is None:
        return key or "(no section)"
    title, sub = known
    return f"{key} {title}" + (f": {sub}" if sub else "")
