"""What counts as one reaction emoji: WhatsApp takes a single emoji, or "" to remove one."""

from __future__ import annotations

# Joiners, the emoji presentation selector, the keycap mark, skin tones and tag characters
# (subdivision flags) join or modify a pictograph; they never stand alone.
_MODIFIERS = {0x200D, 0xFE0F, 0x20E3}


def _modifier(cp: int) -> bool:
    return cp in _MODIFIERS or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F


def _pictograph(cp: int) -> bool:
    return cp >= 0x1F000 or 0x2190 <= cp <= 0x2BFF or 0x2300 <= cp <= 0x23FF or cp in (0x00A9, 0x00AE, 0x3030)


def is_reaction_emoji(text: str) -> bool:
    """ "" (remove the reaction), or one emoji: pictographs with their joiners, selectors,
    skin tones and flags, and nothing that reads as text (letters, digits, spaces)."""
    if text == "":
        return True
    if len(text) > 16:  # the longest family/flag sequences are well under this
        return False
    bases = 0  # pictographs that start a new emoji (not joined to the previous one by ZWJ)
    previous = 0
    flag_half = False  # a flag is two regional indicators
    for ch in text:
        cp = ord(ch)
        if _modifier(cp):
            previous = cp
            continue
        if not _pictograph(cp):
            return False
        if 0x1F1E6 <= cp <= 0x1F1FF:
            flag_half = not flag_half
            if not flag_half:
                previous = cp
                continue
        if previous != 0x200D:
            bases += 1
        previous = cp
    return bases == 1 and not flag_half
