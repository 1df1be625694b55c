"""Importing datasets: bad input is refused with problems that name the file, the line and the
field, and leaves the database exactly as it was; good input lands and bumps the version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import db
from db.engine import get_engine
from db.importer import DatasetError, import_path

EVIDENCE = """    evidence:
      - source: eccp-japan
        passage: "The programme has supported 15 projects each year of which 8 are with European clusters."
"""
NEW_ORG = (
    """organisations:
  - id: kk-kakehashi-regen-lab
    name: Kakehashi Regenerative Test Lab
    aliases: ["KK Regen Lab"]
    kind: research_institute
    country: JP
    place: kobe
    sectors: [regenerative-medicine]
    description: "A record made up for the import tests."
"""
    + EVIDENCE
)


@pytest.fixture
def import_kb(scratch_kb) -> str:
    """The seeded database of the writing tests: bad imports must leave it as it is."""
    return scratch_kb


def rejected(path: Path, url: str, snapshot) -> list:
    """Import `path`, expect DatasetError, check that nothing changed; return its problems."""
    before = snapshot(url)
    with pytest.raises(DatasetError) as info:
        import_path(path, url=url)
    assert snapshot(url) == before, "a refused import changed the database"
    problems = info.value.problems
    assert problems, "DatasetError without problems"
    return problems


# (file, [(line, field, words the message contains)]): every problem the file must raise.
BAD_FILES = [
    ("malformed_yaml.yml", [(5, None, "YAML syntax error")]),
    ("unknown_section.yml", [(2, "organizations", "unknown section")]),
    ("unknown_field.yml", [(8, "homepage", "unknown field")]),
    ("missing_required.yml", [(12, "kind", "is required")]),
    ("wrong_type.yml", [(8, "members", "not a whole number"), (9, "sectors", "list of texts")]),
    (
        "unknown_reference.yml",
        [(7, "place", "unknown place 'atlantis'"), (8, "sectors", "unknown sector 'quantum-knitting'")],
    ),
    ("duplicate_in_file.yml", [(12, "id", "duplicate organisation 'kk-twice' (first at")]),
    ("duplicate_existing_id.yml", [(3, "id", "'osaka-bio-headquarters': already in the database")]),
    ("duplicate_existing_name.yml", [(4, "name", "already a name of organisation 'osaka-bio-headquarters'")]),
    ("latin1.yml", [(4, None, "not valid UTF-8")]),
    ("nul_byte.yml", [(5, None, "NUL character")]),
    ("empty.yml", [(None, None, "empty")]),
    ("impossible_date.yml", [(7, "start", "'2016-02-30' is not a date")]),
    ("too_long.yml", [(4, "name", "longer than 300 characters")]),
    ("number_too_large.yml", [(7, "members", "too large")]),
    (
        "wrong_shapes.yml",
        [
            (6, "parent", "must be a text"),
            (10, "aliases", "list of texts"),
            (13, "evidence", "'source' must be the id of a source"),
            (18, "parties", "list of texts"),
        ],
    ),
]


@pytest.mark.parametrize(("name", "expected"), BAD_FILES, ids=[f for f, _ in BAD_FILES])
def test_bad_file_is_refused_with_located_problems(import_kb, kb_snapshot, bad_data_dir, name, expected):
    path = bad_data_dir / name
    problems = rejected(path, import_kb, kb_snapshot)
    found = [(p.line, p.field, p.message) for p in problems]
    for line, field, words in expected:
        assert any(pl == line and pf == field and words in pm for pl, pf, pm in found), (
            f"no problem at line {line}, field {field!r} mentioning {words!r}; got {found}"
        )
    assert len(problems) == len(expected), f"unexpected extra problems: {found}"
    for p in problems:
        assert Path(p.file) == path
        # The message shown to staff (and printed by the CLI) starts with file:line.
        assert str(p).startswith(f"{path}:{p.line}:" if p.line else f"{path}:")
    assert str(path) in str(DatasetError(problems))


def test_bad_fixture_files_really_are_broken(bad_data_dir):
    """Guard the byte-level fixtures against an editor 'fixing' them."""
    with pytest.raises(UnicodeDecodeError):
        (bad_data_dir / "latin1.yml").read_bytes().decode("utf-8")
    assert b"\x00" in (bad_data_dir / "nul_byte.yml").read_bytes()
    assert (bad_data_dir / "empty.yml").read_bytes() == b""


def test_folder_without_yml_is_refused(import_kb, kb_snapshot, tmp_path):
    (tmp_path / "README.txt").write_text("organisations:\n", encoding="utf-8")
    problems = rejected(tmp_path, import_kb, kb_snapshot)
    assert [(p.file, p.line, p.field) for p in problems] == [(str(tmp_path), None, None)]
    assert "no .yml files" in problems[0].message


def test_one_bad_file_in_a_folder_refuses_the_whole_folder(import_kb, kb_snapshot, bad_data_dir, tmp_path):
    good = NEW_ORG.replace("kk-kakehashi-regen-lab", "kk-folder-lab").replace("Kakehashi Regenerative", "Folder")
    (tmp_path / "a_new_org.yml").write_text(good.replace('aliases: ["KK Regen Lab"]', "aliases: []"), "utf-8")
    shutil.copy(bad_data_dir / "wrong_type.yml", tmp_path / "b_wrong_type.yml")
    problems = rejected(tmp_path, import_kb, kb_snapshot)
    assert {Path(p.file).name for p in problems} == {"b_wrong_type.yml"}
    assert db.resolve_organisation("kk-folder-lab", url=import_kb)[0] is None


def test_problems_in_several_files_are_all_reported(import_kb, kb_snapshot, bad_data_dir, tmp_path):
    for name in ("unknown_field.yml", "missing_required.yml"):
        shutil.copy(bad_data_dir / name, tmp_path / name)
    problems = rejected(tmp_path, import_kb, kb_snapshot)
    assert {(Path(p.file).name, p.line, p.field) for p in problems} == {
        ("unknown_field.yml", 8, "homepage"),
        ("missing_required.yml", 12, "kind"),
    }


def test_valid_import_lands_bumps_version_and_is_searchable(scratch_kb, kb_snapshot, tmp_path):
    url = scratch_kb
    path = tmp_path / "new_org.yml"
    path.write_text(NEW_ORG, encoding="utf-8")
    before = kb_snapshot(url)

    assert import_path(path, url=url) == {"organisations": 1}

    after = kb_snapshot(url)
    assert int(after["version"]) == int(before["version"]) + 1
    assert after["organisations"] == before["organisations"] + 1
    assert after["evidence"] == before["evidence"] + 1
    res = db.search_organisations(name="Kakehashi Regenerative Test Lab", url=url)
    assert [h.org.id for h in res.hits][:1] == ["kk-kakehashi-regen-lab"]
    hit = res.hits[0].org
    assert (hit.place, hit.country, hit.sectors) == ("Kobe", "Japan", ["Regenerative medicine"])
    # Found by its alias, and by what it works on where it is.
    assert db.resolve_organisation("KK Regen Lab", url=url)[0].id == "kk-kakehashi-regen-lab"
    res = db.search_organisations(sector="cell therapy", place="Hyogo", limit=50, url=url)
    assert "kk-kakehashi-regen-lab" in {h.org.id for h in res.hits}
    detail, _ = db.get_organisation("kk-kakehashi-regen-lab", url=url)
    assert [s.source_id for s in detail.sources] == ["eccp-japan"]


def test_import_through_an_engine_uses_that_engine(kb_maker, kb_snapshot, tmp_path, monkeypatch):
    """import_path(engine=…) must use that engine, even when its URL renders differently from the
    string it was made from (PostgreSQL: "," vs "%2C" in the search_path option): going through
    the rendered URL made a second engine, which seeded the database before the import."""
    url = kb_maker.blank().replace("%2C", ",")
    monkeypatch.setenv("KAKEHASHI_AUTO_SEED", "0")
    engine = get_engine(url)  # migrated, empty
    monkeypatch.setenv("KAKEHASHI_AUTO_SEED", "1")
    path = tmp_path / "tiny.yml"
    path.write_text(
        'sources:\n  - id: eccp-japan\n    file: 001_5f2e0332619e1e96.txt\n    title: "ECCP paper"\n',
        encoding="utf-8",
    )
    assert import_path(path, engine=engine) == {"sources": 1}
    counts = kb_snapshot(url)
    assert (counts["sources"], counts["organisations"], counts["version"]) == (1, 0, "1")
