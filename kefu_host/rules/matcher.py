"""Word matching for ``contains_any``: one Aho-Corasick automaton per field, shared by all its lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import ahocorasick


#: Above this many different first characters the scanner matches UTF-8 bytes instead of characters.
BYTE_VIEW_THRESHOLD = 128


def _byte_view(text: str) -> str:
    # pyahocorasick finds a node's child by a linear search, so a trie whose root has a child for each of
    # a thousand Chinese first characters costs ~60 us per 200-character message. Matching UTF-8 bytes
    # (one char per byte, via latin-1) caps every fan-out at 256 and is ~10x faster there, though slower
    # for small alphabets, as the text gets longer. It finds the same words: UTF-8 is self-synchronising,
    # so an encoded word only matches at a character boundary.
    return text.casefold().encode("utf-8", "surrogatepass").decode("latin-1")


class WordScanner:
    """Scans a text once and reports which word lists it hit, as a bit mask (list ``i`` is bit ``1 << i``).

    Matching is by substring on case-folded text, which is what Chinese needs (no spaces between words)
    and makes English case-insensitive.
    """

    __slots__ = ("_automaton", "_full", "_view", "size")

    def __init__(self, word_lists: Sequence[Iterable[str]], byte_view: bool | None = None) -> None:
        """``byte_view`` None picks the faster matching for these words (see :data:`BYTE_VIEW_THRESHOLD`)."""
        folded: dict[str, int] = {}
        for index, words in enumerate(word_lists):
            for word in words:
                key = word.casefold()
                if key:
                    folded[key] = folded.get(key, 0) | (1 << index)
        if byte_view is None:
            byte_view = len({key[0] for key in folded}) > BYTE_VIEW_THRESHOLD
        self._view = _byte_view if byte_view else str.casefold
        masks = {self._view(key): mask for key, mask in folded.items()}
        self.size = len(masks)
        self._full = (1 << len(word_lists)) - 1
        self._automaton: ahocorasick.Automaton | None = None
        if masks:
            automaton = ahocorasick.Automaton()
            for key, mask in masks.items():
                automaton.add_word(key, mask)
            automaton.make_automaton()
            self._automaton = automaton

    def scan(self, text: object) -> int:
        """The lists ``text`` contains a word of; 0 for a text that is not a string."""
        if type(text) is not str or self._automaton is None:
            return 0
        mask = 0
        full = self._full
        for _end, bits in self._automaton.iter(self._view(text)):
            mask |= bits
            if mask == full:
                break
        return mask


def words_found(text: str, words: Iterable[str], limit: int = 10) -> list[str]:
    """Which of ``words`` occur in ``text`` (case-folded), at most ``limit``: for explanations, not speed."""
    folded = text.casefold()
    found: list[str] = []
    for word in words:
        if word and word.casefold() in folded and word not in found:
            found.append(word)
            if len(found) >= limit:
                break
    return found
