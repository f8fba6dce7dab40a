"""The audit record hash's fast canonical form (``canonical_flat``) is byte for byte the
standard library's (``canonical``), whatever the strings hold: the chain's hashes depend on it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sql.audit import canonical, canonical_flat

_CHARACTERS = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
_TEXT = st.one_of(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F)),
                  st.text(alphabet=_CHARACTERS))
_VALUES = st.one_of(_TEXT, st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.none(), st.booleans(), st.floats(allow_nan=True))


@settings(max_examples=2000)
@given(st.lists(_VALUES, max_size=14))
def test_the_fast_form_is_the_standard_librarys(values: list[object]) -> None:
    assert canonical_flat(values) == canonical(values)


def test_every_ascii_character_alone_and_together() -> None:
    for code in range(128):
        assert canonical_flat([chr(code)]) == canonical([chr(code)])
    every = "".join(map(chr, range(128)))
    assert canonical_flat([every, 1, None]) == canonical([every, 1, None])


def test_what_orjson_cannot_write_falls_back() -> None:
    for values in (["\ud800"], [2**64], ["é"], ["\x7f"], [1.5], [True]):
        assert canonical_flat(values) == canonical(values)
