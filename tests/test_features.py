"""Every behaviour id cited in code, tests or docs (E11, S12) is in docs/FEATURES.md."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ROOT / "docs" / "FEATURES.md"
CITED_IN = ("glue/**/*.py", "tests/**/*.py", "domains/**/*.py", "*.md")
# The sections of FEATURES.md: a capital letter and two digits, e.g. S12.
CITATION = re.compile(r"\b([ECMDRSQHOX]\d\d)\b")


def defined_ids() -> set[str]:
    return set(re.findall(r"^- ([A-Z]\d\d)\b", FEATURES.read_text(), re.MULTILINE))


def test_features_document_defines_rows() -> None:
    assert {"E01", "S12", "H01", "O01", "X01"} <= defined_ids()


def test_every_cited_behaviour_id_is_defined() -> None:
    defined = defined_ids()
    unknown = [
        f"{path.relative_to(ROOT)}:{number}: {cited}"
        for pattern in CITED_IN
        for path in ROOT.glob(pattern)
        if ".venv" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for cited in CITATION.findall(line)
        if cited not in defined
    ]
    assert unknown == []
