"""Templates with every part Meta has (media headers, footers, URL / copy-code / quick-reply
buttons) for the stand-in's account, as Meta lists them. Not in its default list, which
tests count; the demo and the template tests add them (`FakeMeta.templates += …`)."""

from __future__ import annotations

from typing import Any

SAMPLE_IMAGE = "https://scontent.whatsapp.net/v/sample-bread.jpg"


def rich_templates() -> list[dict[str, Any]]:
    return [
        {
            "name": "fresh_bread",
            "language": "en",
            "status": "APPROVED",
            "category": "MARKETING",
            "id": "900000000000101",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [SAMPLE_IMAGE]}},
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, today's {{2}} is out of the oven. Use the code below for 10% off.",
                    "example": {"body_text": [["Amina", "sourdough"]]},
                },
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {
                            "type": "URL",
                            "text": "Order now",
                            "url": "https://bakery.example/order/{{1}}",
                            "example": ["https://bakery.example/order/sourdough"],
                        },
                        {"type": "COPY_CODE", "example": "BREAD10"},
                        {"type": "QUICK_REPLY", "text": "Not now"},
                    ],
                },
            ],
        },
        {
            "name": "invoice_ready",
            "language": "en",
            "status": "APPROVED",
            "category": "UTILITY",
            "id": "900000000000102",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "HEADER", "format": "DOCUMENT"},
                {"type": "BODY", "text": "Your invoice {{1}} is attached.", "example": {"body_text": [["#1042"]]}},
                {
                    "type": "BUTTONS",
                    "buttons": [{"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+255222110000"}],
                },
            ],
        },
        {
            "name": "shop_tour",
            "language": "en",
            "status": "APPROVED",
            "category": "MARKETING",
            "id": "900000000000103",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "HEADER", "format": "VIDEO"},
                {"type": "BODY", "text": "Take a look inside our new shop!"},
            ],
        },
    ]
