"""A file send as multipart/form-data, read into the parsed form every send has.

`POST /api/conversations/send` with `file`, optional `caption` and `type` (`voice=true`: a
recording to send as a voice note), and the same
target fields as a JSON send (`conversationId` or `phoneNumber`, `clientId`). The upload is
bounded before it is read: nothing larger than WhatsApp's largest file is accepted.
"""

from __future__ import annotations

import json

from starlette.requests import Request

from .errors import Invalid, TooLarge
from .media_rules import LIMITS, UPLOAD_MAX_BYTES, size_text
from .sanitize import storable
from .sends import FileSend, TemplateSend


async def read_file_send(request: Request) -> tuple[dict[str, str], FileSend | TemplateSend]:
    """(the form's other fields, the file to send), or a 413/422 about the upload itself. With
    a `template` field (the template object as JSON) the file is the template's media header."""
    limit = UPLOAD_MAX_BYTES
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(
            f"the upload is larger than WhatsApp's largest file ({size_text(LIMITS['document'].max_bytes)})",
            "file_too_large",
        )
    async with request.form(max_files=1, max_fields=20) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("send the file as a form field named 'file'", "file_missing")
        if upload.size is not None and upload.size > limit:
            raise TooLarge("the file is larger than WhatsApp's largest file", "file_too_large")
        data = await upload.read()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str) and v != ""}
        filename, content_type = upload.filename, upload.content_type
    voice = fields.get("voice", "").lower() in ("1", "true", "yes", "on")
    file = FileSend(data, filename, content_type, fields.get("caption") or "", fields.get("type"), voice=voice)
    if "template" in fields:
        try:
            spec = json.loads(fields["template"])
        except ValueError:
            raise Invalid("the template field must be the template object as JSON", "invalid_template") from None
        return fields, TemplateSend(storable(spec), header_file=file)
    return fields, file
