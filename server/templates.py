"""Message templates: a local copy of the account's approved templates, and sending one.

A template is the only message WhatsApp accepts once the customer's 24-hour window is
closed, so sending one is allowed then. The copy is refreshed by `python -m server
sync-templates`, `POST /api/templates/sync` (admins), and in the background at start-up when
WHATSAPP_BUSINESS_ACCOUNT_ID is set. A template send is checked against the copy (known,
approved, the right number of parameters) before Meta is called; the outbox sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import queries, template_parts
from .db import Database, Tx, now_ms
from .errors import Invalid
from .settings import MissingSetting
from .shapes import as_list, as_object
from .whatsapp import CloudAPI, SendError

if TYPE_CHECKING:
    from .settings import Settings
    from .store import Store

log = logging.getLogger(__name__)

PAGE_LIMIT = 100
MAX_PAGES = 200
FIELDS = "name,language,status,category,components,id,parameter_format"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def placeholders(text: str | None) -> list[str]:
    """The distinct `{{n}}` / `{{name}}` placeholders of a text, in order of appearance."""
    seen: list[str] = []
    for name in _PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def _order(names: list[str]) -> list[str]:
    """Positional placeholders in number order ({{2}} may come before {{1}} in the text)."""
    if names and all(n.isdigit() for n in names):
        return sorted(names, key=int)
    return names


def fill(text: str, names: list[str], values: list[str]) -> str:
    by_name = dict(zip(names, values, strict=False))
    return _PLACEHOLDER.sub(lambda m: by_name.get(m.group(1), m.group(0)), text)


def parse_template(item: Any) -> dict[str, Any] | None:
    """One template of Meta's list as a row of the local copy (None if unusable)."""
    if not isinstance(item, dict) or not item.get("name") or not item.get("language"):
        return None
    components = [c for c in item.get("components") or [] if isinstance(c, dict)]
    body = header = None
    header_params: list[str] = []
    for c in components:
        kind = str(c.get("type") or "").upper()
        if kind == "BODY" and body is None:
            body = str(c.get("text") or "")
        elif kind == "HEADER" and header is None and str(c.get("format") or "TEXT").upper() == "TEXT":
            header = str(c.get("text") or "")
            header_params = _order(placeholders(header))
    return {
        "name": str(item["name"]),
        "language": str(item["language"]),
        "meta_id": str(item["id"]) if item.get("id") is not None else None,
        "category": str(item["category"]) if item.get("category") else None,
        "status": str(item.get("status") or "UNKNOWN").upper(),
        "parameter_format": str(item.get("parameter_format") or "POSITIONAL").upper(),
        "body": body or "",
        "body_params": _order(placeholders(body)),
        "header_text": header,
        "header_params": header_params,
        "components": components,
    }


def template_view(row: dict[str, Any]) -> dict[str, Any]:
    """A template as the picker shows it: every part the customer will see, and what each
    parameter (body, header, media header, buttons) needs."""
    body_params = json.loads(row["body_params"] or "[]")
    header_params = json.loads(row["header_params"] or "[]")
    components = _components(row)
    return {
        "name": row["name"],
        "language": row["language"],
        "category": row["category"],
        "status": row["status"],
        "parameterFormat": row["parameter_format"],
        "body": row["body"],
        "parameterCount": len(body_params),
        "parameters": body_params,
        "headerText": row["header_text"],
        "headerParameterCount": len(header_params),
        "headerParameters": header_params,
        "headerFormat": template_parts.header_format(components),
        "headerExample": template_parts.header_example(components),
        "footer": template_parts.footer(components),
        "buttons": template_parts.buttons(components),
        "sendable": row["status"] == "APPROVED",
        "syncedAt": queries.iso(row["synced_at"]),
    }


def _components(row: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(row["components"] or "[]")
    except (TypeError, ValueError):
        return []
    return [c for c in parsed if isinstance(c, dict)] if isinstance(parsed, list) else []


def spec_of(data: dict[str, Any]) -> dict[str, Any]:
    """A template send's object again, from the `data` stored with its message: what a retry
    resolves (its header link and button parameters included)."""
    spec: dict[str, Any] = {k: data[k] for k in ("name", "language", "parameters", "headerParameters") if k in data}
    media = data.get("headerMedia")
    if isinstance(media, dict) and media.get("link"):
        spec["header"] = {k: media[k] for k in ("link", "filename") if media.get(k)}
    buttons = data.get("buttons")
    if isinstance(buttons, list) and any(isinstance(b, dict) and b.get("parameter") for b in buttons):
        spec["buttonParameters"] = [b.get("parameter") if isinstance(b, dict) else None for b in buttons]
    return spec


@dataclass(frozen=True)
class Resolved:
    """A template send, checked: Meta's template object, what is stored with the message,
    its filled-in body, and (when the media header is a file the agent uploaded) the header's
    kind, whose component is added once the file is uploaded to Meta."""

    template: dict[str, Any]
    data: dict[str, Any]
    content: str
    upload_header: str | None = None


_SELECT = (
    "SELECT name, language, meta_id, category, status, parameter_format, body, body_params, header_text,"
    " header_params, components, synced_at FROM templates"
)


def _values(raw: Any, names: list[str], what: str, named: bool) -> list[str]:
    """The parameter texts, in placeholder order, checked the way Meta would refuse them."""
    if raw is None:
        raw = []
    if isinstance(raw, dict):
        unknown = [k for k in raw if k not in names]
        if unknown:
            raise Invalid(
                f"{what}: unknown parameter name(s) {', '.join(map(str, unknown))}; "
                f"the template's are: {', '.join(names) or 'none'}",
                "invalid_template_parameters",
            )
        missing = [n for n in names if n not in raw]
        if missing:
            raise Invalid(f"{what}: missing parameter(s) {', '.join(missing)}", "invalid_template_parameters")
        raw = [raw[n] for n in names]
    if not isinstance(raw, list):
        raise Invalid(f"{what} must be a list of texts", "invalid_template_parameters")
    if len(raw) != len(names):
        raise Invalid(
            f"{what}: the template takes {len(names)} parameter(s), {len(raw)} given", "invalid_template_parameters"
        )
    values = []
    for i, value in enumerate(raw, 1):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise Invalid(f"{what}: parameter {i} must be text", "invalid_template_parameters")
        text = str(value).strip()
        if not text:
            raise Invalid(f"{what}: parameter {i} is empty", "invalid_template_parameters")
        if "\n" in text or "\t" in text or "     " in text:
            raise Invalid(
                f"{what}: parameter {i} may not contain line breaks, tabs or more than "
                "four spaces in a row (WhatsApp refuses them)",
                "invalid_template_parameters",
            )
        if len(text) > 1024:
            raise Invalid(f"{what}: parameter {i} is too long", "invalid_template_parameters")
        values.append(text)
    return values


class TemplateService:
    def __init__(self, db: Database, store: Store, cloud: CloudAPI, settings: Settings) -> None:
        self.db = db
        self.store = store
        self.cloud = cloud
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._lazy_tried = False
        self._lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.whatsapp_business_account_id:
            self._task = asyncio.create_task(self._startup_sync(), name="sync-templates")
            self.store.templates_unknown = self.sync_soon

    def sync_soon(self) -> None:
        """A status update named a template the copy does not know: fetch the account's
        templates in the background (once at a time)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._startup_sync(), name="sync-templates")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _startup_sync(self) -> None:
        try:
            synced = await self.sync()
            log.info("synced %d message template(s) from WhatsApp", len(synced))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("syncing message templates at start-up failed: %s", exc)

    # -- the local copy ------------------------------------------------------------------
    async def fetch(self) -> list[dict[str, Any]]:
        """Every template of the account, following Meta's paging."""
        waba = self.settings.whatsapp_business_account_id
        if not waba:
            raise MissingSetting("WHATSAPP_BUSINESS_ACCOUNT_ID", "to list the account's message templates")
        path: str = f"{quote(waba, safe='')}/message_templates"
        params: dict[str, Any] | None = {"limit": PAGE_LIMIT, "fields": FIELDS}
        items: list[Any] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = await self.cloud.get_json(path, params)
            data = page.get("data")
            items.extend(as_list(data))
            paging = as_object(page.get("paging"))
            nxt = paging.get("next")
            cursors = as_object(paging.get("cursors"))
            after = cursors.get("after")
            if not nxt or not data:
                break
            if isinstance(after, str) and after:
                if after in seen:
                    break
                seen.add(after)
                params = {"limit": PAGE_LIMIT, "fields": FIELDS, "after": after}
                path = f"{quote(waba, safe='')}/message_templates"
            elif isinstance(nxt, str):
                if nxt in seen:
                    break
                seen.add(nxt)
                path, params = nxt, None
            else:
                break
        return [t for t in (parse_template(i) for i in items) if t is not None]

    async def sync(self) -> list[dict[str, Any]]:
        """Refresh the local copy from Meta; templates gone from the account are dropped."""
        async with self._lock:
            fetched = await self.fetch()

            async def job(tx: Tx) -> None:
                now = now_ms()
                for t in fetched:
                    await tx.execute(
                        "INSERT INTO templates (name, language, meta_id, category, status, parameter_format, body,"
                        " body_params, header_text, header_params, components, synced_at) VALUES (:name, :language,"
                        " :meta_id, :category, :status, :pf, :body, :bp, :ht, :hp, :components, :now)"
                        " ON CONFLICT (name, language) DO UPDATE SET meta_id = excluded.meta_id,"
                        " category = excluded.category, status = excluded.status,"
                        " parameter_format = excluded.parameter_format, body = excluded.body,"
                        " body_params = excluded.body_params, header_text = excluded.header_text,"
                        " header_params = excluded.header_params, components = excluded.components,"
                        " synced_at = excluded.synced_at",
                        name=t["name"],
                        language=t["language"],
                        meta_id=t["meta_id"],
                        category=t["category"],
                        status=t["status"],
                        pf=t["parameter_format"],
                        body=t["body"],
                        bp=json.dumps(t["body_params"]),
                        ht=t["header_text"],
                        hp=json.dumps(t["header_params"]),
                        components=json.dumps(t["components"], ensure_ascii=False),
                        now=now,
                    )
                await tx.execute("DELETE FROM templates WHERE synced_at < :now", now=now)

            await self.db.write(job)
            self._lazy_tried = True
        return await self.stored(include_all=True)

    async def stored(self, include_all: bool = False) -> list[dict[str, Any]]:
        where = "" if include_all else " WHERE status = 'APPROVED'"
        rows = await self.db.fetch_all(_SELECT + where + " ORDER BY name, language")
        return [template_view(r) for r in rows]

    async def list_for_api(self, include_all: bool) -> list[dict[str, Any]]:
        """The copy; the first time, if it is empty and the account is configured, sync first."""
        if not self._lazy_tried and self.settings.whatsapp_business_account_id:
            self._lazy_tried = True
            if not await self.db.fetch_val("SELECT COUNT(*) FROM templates"):
                try:
                    await self.sync()
                except (SendError, MissingSetting) as exc:
                    log.warning("syncing message templates failed: %s", exc)
        return await self.stored(include_all)

    # -- sending -------------------------------------------------------------------------
    async def resolve(self, spec: Any, uploaded_header: bool = False) -> Resolved:
        """Meta's template object, the stored `data` and the filled-in body for a send, or a
        422 saying what is wrong, before anything is stored or sent. `uploaded_header`: the
        agent uploaded the file of the template's media header with the send."""
        if not isinstance(spec, dict):
            raise Invalid("template must be an object with name, language and parameters", "invalid_template")
        name, language = spec.get("name"), spec.get("language")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("template.name is required", "invalid_template")
        name = name.strip()
        if language is not None and not isinstance(language, str):
            raise Invalid("template.language must be a language code such as en_US", "invalid_template")
        if not language:
            langs = [
                r["language"]
                for r in await self.db.fetch_all(
                    "SELECT language FROM templates WHERE name = :n AND status = 'APPROVED' ORDER BY language", n=name
                )
            ]
            if len(langs) != 1:
                choices = f" (one of: {', '.join(langs)})" if langs else ""
                raise Invalid(f"template.language is required{choices}", "template_language_required")
            language = langs[0]
        language = language.strip()
        row = await self.db.fetch_one(_SELECT + " WHERE name = :n AND language = :l", n=name, l=language)
        if row is None:
            raise Invalid(
                f"unknown template {name!r} in language {language!r}: check the name, or refresh "
                "the templates (python -m server sync-templates, or POST /api/templates/sync)",
                "unknown_template",
            )
        if row["status"] != "APPROVED":
            raise Invalid(
                f"template {name!r} ({language}) is {row['status']}, not approved: WhatsApp only "
                "sends approved templates",
                "template_not_approved",
            )
        body_names = json.loads(row["body_params"] or "[]")
        header_names = json.loads(row["header_params"] or "[]")
        named = row["parameter_format"] == "NAMED"
        body_values = _values(spec.get("parameters"), body_names, f"template {name!r} ({language})", named)
        header_values = _values(
            spec.get("headerParameters"), header_names, f"template {name!r} ({language}) header", named
        )

        def params(names: list[str], values: list[str]) -> list[dict[str, Any]]:
            out = []
            for n, v in zip(names, values, strict=False):
                p: dict[str, Any] = {"type": "text", "text": v}
                if named:
                    p["parameter_name"] = n
                out.append(p)
            return out

        what = f"template {name!r} ({language})"
        parts = _components(row)
        fmt = template_parts.header_format(parts)
        components: list[dict[str, Any]] = []
        header_media: dict[str, Any] | None = None
        upload: str | None = None
        # A media header by link is an object; a stored message's "header" is its header text.
        header_spec = spec.get("header") if isinstance(spec.get("header"), dict) else None
        if fmt in template_parts.MEDIA_HEADERS:
            if uploaded_header:
                if header_spec is not None:
                    raise Invalid(
                        f"{what}: give the header file or header.link, not both", "invalid_template_parameters"
                    )
                upload = fmt.lower()
            else:
                header_component, header_media = template_parts.media_header(fmt, header_spec, what)
                components.append(header_component)
        elif uploaded_header or header_spec is not None:
            raise Invalid(f"{what} has no media header: it takes no file or header.link", "invalid_template_parameters")
        if header_values:
            components.append({"type": "header", "parameters": params(header_names, header_values)})
        if body_values:
            components.append({"type": "body", "parameters": params(body_names, body_values)})
        defined = template_parts.buttons(parts)
        button_components, shown = template_parts.button_parameters(defined, spec.get("buttonParameters"), what)
        components.extend(button_components)
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if components:
            template["components"] = components
        data: dict[str, Any] = {"name": name, "language": language, "parameters": body_values}
        if header_values:
            data["headerParameters"] = header_values
        if row["header_text"]:
            data["header"] = fill(row["header_text"], header_names, header_values)
        if header_media is not None:
            data["headerMedia"] = header_media
        if shown:
            data["buttons"] = shown
        content = fill(row["body"], body_names, body_values)
        return Resolved(template, data, content, upload)
