"""Load the curated dataset (YAML) into the database: validate everything first, then write all
or nothing. Every problem names the file, the line and the field."""

from __future__ import annotations

import datetime as dt
import fcntl
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from db import models as m
from db.config import SEED_DIR
from db.schema import MAX_INT, ORDER, SECTIONS, Field
from db.text import fold

SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
CODE_RE = re.compile(r"^[A-Z]{2}$")
DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located precisely."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"


class DatasetError(ValueError):
    """The dataset cannot be imported; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s); nothing was imported:\n{shown}{more}")


@dataclass
class Record:
    """A parsed record with where it came from."""

    section: str
    data: dict[str, Any]
    file: str
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        rid = self.data.get("id")
        return rid if isinstance(rid, str) else ""

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


@dataclass
class Dataset:
    records: dict[str, list[Record]] = field(default_factory=lambda: {s: [] for s in ORDER})

    def __len__(self) -> int:
        return sum(len(v) for v in self.records.values())

    def counts(self) -> dict[str, int]:
        return {s: len(v) for s, v in self.records.items() if v}


# --------------------------------------------------------------------------- parsing


class _Constructor(RoundTripConstructor):
    """Keeps dates as written ("2016-10-12"): the validator checks them and reports an impossible
    date with its file, line and field, where YAML's own date parsing would raise ValueError."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_str)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    return yaml


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".yml", ".yaml"})
        if not files:
            raise DatasetError([Problem(str(path), None, None, "no .yml files in this folder")])
        return files
    return [path]


def parse(path: str | Path) -> Dataset:
    """Read a dataset file, or every .yml file of a folder, into records (no validation yet)."""
    dataset, problems = Dataset(), []
    for file in _files(Path(path)):
        problems.extend(_parse_file(file, dataset))
    if problems:
        raise DatasetError(problems)
    return dataset


def _parse_file(file: Path, dataset: Dataset) -> list[Problem]:
    name = str(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return [Problem(name, None, None, f"cannot read file: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        return [Problem(name, None, None, f"file is larger than {MAX_FILE_BYTES} bytes")]
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [Problem(name, line, None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")]
    if "\x00" in content:
        line = content[: content.index("\x00")].count("\n") + 1
        return [Problem(name, line, None, "contains a NUL character")]
    try:
        doc = _yaml().load(content)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        return [Problem(name, line, None, f"YAML syntax error: {exc.problem or exc}")]
    except YAMLError as exc:
        return [Problem(name, None, None, f"YAML error: {exc}")]
    if doc is None:
        return [Problem(name, None, None, "file is empty")]
    if not isinstance(doc, dict):
        return [Problem(name, 1, None, "expected a mapping of sections, e.g. 'organisations:'")]
    problems = []
    for section, items in doc.items():
        line = doc.lc.key(section)[0] + 1
        if section not in SECTIONS:
            problems.append(Problem(name, line, str(section), f"unknown section; expected one of {', '.join(ORDER)}"))
            continue
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(Problem(name, line, section, "expected a list of records"))
            continue
        for i, item in enumerate(items):
            item_line = items.lc.item(i)[0] + 1
            if not isinstance(item, dict):
                problems.append(Problem(name, item_line, section, "expected a mapping (a record)"))
                continue
            key_lines = {str(k): item.lc.key(k)[0] + 1 for k in item}
            dataset.records[section].append(Record(section, _plain(item), name, item_line, key_lines))
    return problems


def _plain(value: Any) -> Any:
    """ruamel's commented containers → plain dicts/lists; dates → ISO strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    return value


def _texts(value: Any) -> list[str]:
    """The texts in a value that should be a text or a list of texts (others are reported by
    the type check; here they are only skipped)."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, str)]


# --------------------------------------------------------------------------- validation


def _check_value(rec: Record, key: str, spec: Field, value: Any) -> list[str]:
    """Type problems of one field value (empty list when fine)."""
    if value is None:
        return ["is required"] if spec.required else []
    t = spec.type
    if t in {"str", "slug"}:
        if not isinstance(value, str) or not value.strip():
            return ["must be a non-empty text"]
        if len(value) > spec.max_len:
            return [f"is longer than {spec.max_len} characters"]
        if t == "slug" and not SLUG_RE.match(value):
            return [f"'{value}' is not a slug (lower-case letters, digits and hyphens)"]
    elif t in {"ref", "enum"}:
        if not isinstance(value, str):
            return ["must be a text"]
        if t == "enum" and value not in spec.choices:
            return [f"'{value}' is not one of: {', '.join(spec.choices)}"]
    elif t == "code":
        if not isinstance(value, str) or not CODE_RE.match(value):
            return [f"'{value}' is not a two-letter upper-case country code"]
    elif t == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return [f"'{value}' is not a whole number ≥ 0"]
        if value > MAX_INT:
            return [f"'{value}' is too large (at most {MAX_INT})"]
    elif t == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return [f"'{value}' is not a number"]
    elif t in {"strlist", "reflist"}:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return ["must be a list of texts"]
        if len(set(value)) != len(value):
            return ["lists the same value twice"]
        too_long = [v for v in value if len(v) > spec.max_len]
        if t == "strlist" and too_long:
            return [f"'{too_long[0][:40]}…' is longer than {spec.max_len} characters"]
    elif t == "date":
        if not isinstance(value, str) or not DATE_RE.match(value) or _first_day(value) is None:
            return [f"'{value}' is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"]
    elif t == "figures":
        if not isinstance(value, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            return ["must map names to numbers"]
    elif t == "evidence":
        return _check_evidence(value)
    elif t == "rules":
        return _check_rules(value)
    return []


def _check_evidence(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        return ["must list at least one {source, passage}"]
    for item in value:
        if not isinstance(item, dict) or set(item) != {"source", "passage"}:
            return ["each item needs exactly 'source' and 'passage'"]
        if not isinstance(item["source"], str):
            return ["'source' must be the id of a source"]
        if not isinstance(item["passage"], str) or len(item["passage"].strip()) < 10:
            return ["a passage must quote at least 10 characters of the source"]
    return []


def _check_rules(value: Any) -> list[str]:
    from db.schema import RULE_KINDS

    if not isinstance(value, list):
        return ["must be a list of rules"]
    for rule in value:
        if not isinstance(rule, dict) or "kind" not in rule or "text" not in rule:
            return ["each rule needs 'kind' and 'text'"]
        if rule["kind"] not in RULE_KINDS:
            return [f"rule kind '{rule['kind']}' is not one of: {', '.join(RULE_KINDS)}"]
        if set(rule) - {"kind", "text", "values"}:
            return [f"unknown rule keys: {', '.join(sorted(set(rule) - {'kind', 'text', 'values'}))}"]
        vals = rule.get("values")
        if vals is not None and not (isinstance(vals, list) and all(isinstance(v, str) for v in vals)):
            return ["rule 'values' must be a list of texts"]
    return []


def _first_day(value: str) -> dt.date | None:
    parts = [int(p) for p in value.split("-")] + [1, 1]
    try:
        return dt.date(parts[0], parts[1], parts[2])
    except ValueError:
        return None


def _existing_ids(session: Session | None, section: str, wanted: Iterable[str]) -> set[str]:
    wanted = list(set(wanted))
    if session is None or not wanted:
        return set()
    table = {
        "sources": m.Source,
        "places": m.Place,
        "sectors": m.Sector,
        "organisations": m.Organisation,
        "programmes": m.Programme,
        "partnerships": m.Partnership,
        "events": m.Event,
        "contacts": m.Contact,
        "market_facts": m.MarketFact,
    }[section]
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        found.update(session.scalars(select(table.id).where(table.id.in_(wanted[i : i + 500]))))
    return found


def validate(dataset: Dataset, session: Session | None = None) -> list[Problem]:
    """Every problem of `dataset`, given what `session`'s database already holds."""
    problems: list[Problem] = []

    def add(rec: Record, key: str | None, message: str) -> None:
        problems.append(Problem(rec.file, rec.line_of(key) if key else rec.line, key, message))

    ids: dict[str, dict[str, Record]] = {s: {} for s in ORDER}
    for section in ORDER:
        spec = SECTIONS[section]
        for rec in dataset.records[section]:
            for key in rec.data:
                if key not in spec:
                    add(rec, key, f"unknown field in {section} (allowed: {', '.join(spec)})")
            for key, fspec in spec.items():
                for msg in _check_value(rec, key, fspec, rec.data.get(key)):
                    add(rec, key, msg)
            rid = rec.data.get("id")
            if isinstance(rid, str):
                if rid in ids[section]:
                    first = ids[section][rid]
                    add(rec, "id", f"duplicate {section[:-1]} '{rid}' (first at {first.file}:{first.line})")
                else:
                    ids[section][rid] = rec
    # Ids that clash with what the database already holds.
    for section in ORDER:
        for rid in _existing_ids(session, section, ids[section]):
            add(ids[section][rid], "id", f"duplicate {section[:-1]} '{rid}': already in the database")
    _check_references(dataset, ids, session, add)
    _check_names(dataset, session, add)
    _check_semantics(dataset, ids, session, add)
    return problems


def _check_references(dataset, ids, session, add) -> None:
    wanted: dict[str, set[str]] = {s: set() for s in ORDER}
    for section in ORDER:
        for rec in dataset.records[section]:
            for key, spec in SECTIONS[section].items():
                value = rec.data.get(key)
                if spec.ref and value:
                    wanted[spec.ref].update(_texts(value))
            for ev in rec.data.get("evidence") or []:
                if isinstance(ev, dict) and isinstance(ev.get("source"), str):
                    wanted["sources"].add(ev["source"])
    known = {s: set(ids[s]) | _existing_ids(session, s, wanted[s] - set(ids[s])) for s in ORDER}
    for section in ORDER:
        for rec in dataset.records[section]:
            for key, spec in SECTIONS[section].items():
                value = rec.data.get(key)
                if not spec.ref or not value or not isinstance(value, str | list):
                    continue
                for ref in value if isinstance(value, list) else [value]:
                    if isinstance(ref, str) and ref not in known[spec.ref]:
                        add(rec, key, f"unknown {spec.ref[:-1]} '{ref}'")
            for ev in rec.data.get("evidence") or []:
                if isinstance(ev, dict) and isinstance(ev.get("source"), str) and ev["source"] not in known["sources"]:
                    add(rec, "evidence", f"unknown source '{ev.get('source')}'")


def _check_names(dataset, session, add) -> None:
    """Two organisations may not share a name or alias (after folding)."""
    seen: dict[str, tuple[str, Record]] = {}
    for rec in dataset.records["organisations"]:
        names = [rec.data.get("name"), *_texts(rec.data.get("aliases") or [])]
        for name in names:
            if not isinstance(name, str):
                continue
            key = fold(name)
            other = seen.get(key)
            if other and other[0] != rec.id:
                add(
                    rec,
                    "name" if name == rec.data.get("name") else "aliases",
                    f"'{name}' is already a name of organisation '{other[0]}' (duplicate organisation?)",
                )
            seen.setdefault(key, (rec.id, rec))
    if session is not None and seen:
        keys = list(seen)
        for i in range(0, len(keys), 500):
            rows = session.execute(
                select(m.OrganisationName.norm, m.Organisation.id)
                .join(m.Organisation, m.Organisation.pk == m.OrganisationName.org_pk)
                .where(m.OrganisationName.norm.in_(keys[i : i + 500]))
            )
            for norm, org_id in rows:
                rid, rec = seen[norm]
                if org_id != rid:
                    add(rec, "name", f"'{norm}' is already a name of organisation '{org_id}' in the database")


def _check_semantics(dataset, ids, session, add) -> None:
    for rec in dataset.records["partnerships"]:
        parties = rec.data.get("parties")
        if isinstance(parties, list) and parties == _texts(parties) and (len(parties) != 2 or len(set(parties)) != 2):
            add(rec, "parties", "must name exactly two different organisations")
    for section, what in (("places", "the place hierarchy"), ("sectors", "the sector taxonomy")):
        for rec in dataset.records[section]:
            seen, cur = {rec.id}, rec.data.get("parent")
            while isinstance(cur, str) and cur in ids[section]:
                if cur in seen:
                    add(rec, "parent", f"{what} has a cycle")
                    break
                seen.add(cur)
                cur = ids[section][cur].data.get("parent")
    for rec in dataset.records["events"]:
        start, end = rec.data.get("start"), rec.data.get("end")
        dated = isinstance(start, str) and isinstance(end, str) and DATE_RE.match(start) and DATE_RE.match(end)
        if dated and (_first_day(end) or dt.date.max) < (_first_day(start) or dt.date.min):
            add(rec, "end", "is before 'start'")


# --------------------------------------------------------------------------- writing


def import_dataset(session: Session, dataset: Dataset) -> dict[str, int]:
    """Validate `dataset` against the database and write it in `session` (caller commits)."""
    problems = validate(dataset, session)
    if problems:
        raise DatasetError(problems)
    _Writer(session).write(dataset)
    bump_version(session)
    return dataset.counts()


def import_path(path: str | Path, engine: Engine | None = None, url: str | None = None) -> dict[str, int]:
    """Parse, validate and import a file or folder in one transaction; nothing on any error.

    The database is `engine` (used as given), else `url`, else the configured one."""
    from db.engine import session_scope

    dataset = parse(path)
    if engine is not None:
        # Not via its URL: a URL rendered back from an engine need not be the string the engine
        # was made from, which would make (and possibly seed) a second engine.
        with Session(engine, future=True) as session, session.begin():
            return import_dataset(session, dataset)
    with session_scope(url, write=True) as session:
        return import_dataset(session, dataset)


def bump_version(session: Session) -> None:
    row = session.get(m.KbMeta, "version")
    if row is None:
        session.add(m.KbMeta(key="version", value="1"))
    else:
        row.value = str(int(row.value) + 1)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stamp = session.get(m.KbMeta, "updated_at")
    if stamp is None:
        session.add(m.KbMeta(key="updated_at", value=now))
    else:
        stamp.value = now
    session.flush()


class _Writer:
    def __init__(self, session: Session):
        self.s = session
        self.org_pk: dict[str, int] = {}
        self.place_path: dict[str, str] = {}
        self.place_country: dict[str, str | None] = {}

    def write(self, ds: Dataset) -> None:
        for section in ORDER:
            getattr(self, f"_{section}")(ds.records[section])
            self.s.flush()
        self._evidence(ds)
        self.s.flush()
        update_rank_weights(self.s)

    def _orgpk(self, slug: str) -> int:
        if slug not in self.org_pk:
            self.org_pk[slug] = self.s.scalar(select(m.Organisation.pk).where(m.Organisation.id == slug))
        return self.org_pk[slug]

    def _path_of(self, place_id: str) -> str:
        if place_id not in self.place_path:
            row = self.s.get(m.Place, place_id)
            self.place_path[place_id], self.place_country[place_id] = row.path, row.country_code
        return self.place_path[place_id]

    def _country_of(self, place_id: str) -> str | None:
        self._path_of(place_id)
        return self.place_country.get(place_id)

    def _sources(self, recs: list[Record]) -> None:
        for r in recs:
            d = r.data
            self.s.add(
                m.Source(id=d["id"], file=d["file"], title=d["title"], publisher=d.get("publisher"), year=d.get("year"))
            )

    def _places(self, recs: list[Record]) -> None:
        pending = {r.id: r for r in recs}
        while pending:  # parents first
            ready = [r for r in pending.values() if r.data.get("parent") not in pending]
            for r in ready:
                d = r.data
                parent = d.get("parent")
                path = (self._path_of(parent) if parent else "/") + d["id"] + "/"
                country = d.get("country") or (self.place_country.get(parent) if parent else None)
                self.place_path[d["id"]], self.place_country[d["id"]] = path, country
                names = _unique_names([d["name"], *(d.get("aliases") or [])])
                self.s.add(
                    m.Place(
                        id=d["id"],
                        name=d["name"],
                        kind=d["kind"],
                        parent_id=parent,
                        country_code=country,
                        path=path,
                        names=[m.PlaceName(name=n, norm=fold(n)) for n in names],
                    )
                )
                del pending[d["id"]]
            self.s.flush()

    def _sectors(self, recs: list[Record]) -> None:
        pending, paths = {r.id: r for r in recs}, {}
        while pending:
            ready = [r for r in pending.values() if r.data.get("parent") not in pending]
            for r in ready:
                d = r.data
                parent = d.get("parent")
                if parent and parent not in paths:
                    paths[parent] = self.s.get(m.Sector, parent).path
                paths[d["id"]] = (paths[parent] if parent else "/") + d["id"] + "/"
                names = _unique_names([d["name"], *(d.get("synonyms") or [])])
                self.s.add(
                    m.Sector(
                        id=d["id"],
                        name=d["name"],
                        parent_id=parent,
                        path=paths[d["id"]],
                        names=[m.SectorName(name=n, norm=fold(n)) for n in names],
                    )
                )
                del pending[d["id"]]
            self.s.flush()

    def _organisations(self, recs: list[Record]) -> None:
        country_place = dict(
            self.s.execute(select(m.Place.country_code, m.Place.id).where(m.Place.kind == "country")).all()
        )
        for r in recs:
            d = r.data
            place = d.get("place") or country_place.get(d.get("country"))
            country = d.get("country") or (self._country_of(place) if place else None)
            names = _unique_names([d["name"], *(d.get("aliases") or [])])
            org = m.Organisation(
                id=d["id"],
                name=d["name"],
                kind=d["kind"],
                country_code=country,
                place_id=place,
                place_path=self._path_of(place) if place else "",
                members=d.get("members"),
                smes=d.get("smes"),
                description=d.get("description"),
                interests=d.get("interests"),
                website=d.get("website"),
                synthetic=False,
                names=[m.OrganisationName(name=n, norm=fold(n), primary=(n == d["name"])) for n in names],
                sectors=[m.OrganisationSector(sector_id=s) for s in d.get("sectors") or []],
            )
            self.s.add(org)
        self.s.flush()
        for r in recs:
            for group in r.data.get("member_of") or []:
                self.s.add(m.Membership(member_pk=self._orgpk(r.id), group_pk=self._orgpk(group)))

    def _programmes(self, recs: list[Record]) -> None:
        for r in recs:
            d = r.data
            names = _unique_names([d["name"], *(d.get("aliases") or [])])
            self.s.add(
                m.Programme(
                    id=d["id"],
                    name=d["name"],
                    started=d.get("started"),
                    description=d.get("description"),
                    operator_pk=self._orgpk(d["operator"]) if d.get("operator") else None,
                    names=[m.ProgrammeName(name=n, norm=fold(n)) for n in names],
                    rules=[
                        m.ProgrammeRule(position=i, kind=rule["kind"], values=rule.get("values"), text=rule["text"])
                        for i, rule in enumerate(d.get("rules") or [])
                    ],
                    sectors=[m.ProgrammeSector(sector_id=s) for s in d.get("sectors") or []],
                )
            )

    def _partnerships(self, recs: list[Record]) -> None:
        for r in recs:
            d = r.data
            a, b = d["parties"]
            self.s.add(
                m.Partnership(
                    id=d["id"],
                    org_a_pk=self._orgpk(a),
                    org_b_pk=self._orgpk(b),
                    kind=d["kind"],
                    year=d.get("year"),
                    status=d.get("status"),
                    outcome=d.get("outcome"),
                    programme_id=d.get("programme"),
                    sectors=[m.PartnershipSector(sector_id=s) for s in d.get("sectors") or []],
                )
            )

    def _events(self, recs: list[Record]) -> None:
        for r in recs:
            d = r.data
            orgs = [m.EventOrganisation(org_pk=self._orgpk(o), role="organiser") for o in d.get("organisers") or []]
            orgs += [
                m.EventOrganisation(org_pk=self._orgpk(o), role="participant")
                for o in d.get("participants") or []
                if o not in (d.get("organisers") or [])
            ]
            self.s.add(
                m.Event(
                    id=d["id"],
                    name=d["name"],
                    series=d.get("series"),
                    kind=d["kind"],
                    start=d.get("start"),
                    start_date=_first_day(d["start"]) if d.get("start") else None,
                    end=d.get("end"),
                    place_id=d.get("place"),
                    place_path=self._path_of(d["place"]) if d.get("place") else None,
                    figures=d.get("figures"),
                    description=d.get("description"),
                    orgs=orgs,
                    sectors=[m.EventSector(sector_id=s) for s in d.get("sectors") or []],
                )
            )

    def _contacts(self, recs: list[Record]) -> None:
        for r in recs:
            d = r.data
            self.s.add(
                m.Contact(
                    id=d["id"],
                    name=d["name"],
                    role=d.get("role"),
                    email=d.get("email"),
                    org_pk=self._orgpk(d["organisation"]) if d.get("organisation") else None,
                )
            )

    def _market_facts(self, recs: list[Record]) -> None:
        for r in recs:
            d = r.data
            self.s.add(
                m.MarketFact(
                    id=d["id"],
                    topic=d["topic"],
                    sector_id=d.get("sector"),
                    metric=d["metric"],
                    value=d.get("value"),
                    unit=d.get("unit"),
                    year=d.get("year"),
                    note=d.get("note"),
                )
            )

    def _evidence(self, ds: Dataset) -> None:
        for section in ORDER:
            for r in ds.records[section]:
                for ev in r.data.get("evidence") or []:
                    self.s.add(
                        m.Evidence(record_type=section, record_id=r.id, source_id=ev["source"], passage=ev["passage"])
                    )


def _unique_names(names: list[str]) -> list[str]:
    out, seen = [], set()
    for n in names:
        if fold(n) not in seen:
            seen.add(fold(n))
            out.append(n.strip())
    return out


def update_rank_weights(session: Session) -> None:
    """Recompute the prominence of curated organisations: ties, events, stated size."""
    ties = (
        select(func.count(m.Partnership.pk))
        .where((m.Partnership.org_a_pk == m.Organisation.pk) | (m.Partnership.org_b_pk == m.Organisation.pk))
        .scalar_subquery()
    )
    events = (
        select(func.count())
        .select_from(m.EventOrganisation)
        .where(m.EventOrganisation.org_pk == m.Organisation.pk)
        .scalar_subquery()
    )
    rows = session.execute(
        select(m.Organisation.pk, ties, events, m.Organisation.members, m.Organisation.smes).where(
            m.Organisation.synthetic.is_(False)
        )
    ).all()
    for pk, n_ties, n_events, members, smes in rows:
        size = max(members or 0, smes or 0)
        weight = 10.0 + 3.0 * n_ties + 1.0 * n_events + math.log10(size + 1)
        session.execute(m.Organisation.__table__.update().where(m.Organisation.pk == pk).values(rank_weight=weight))


# --------------------------------------------------------------------------- seeding


@contextmanager
def _seed_lock(engine: Engine) -> Iterator[None]:
    """Serialise first-use migration/seeding across processes sharing one database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(424242)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(424242)"))
                conn.commit()
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with open(f"{engine.url.database}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        yield


def is_seeded(session: Session) -> bool:
    return session.get(m.KbMeta, "version") is not None


def seed_if_empty(engine: Engine, seed_dir: Path = SEED_DIR) -> bool:
    """Import the curated dataset when the database holds none yet. True when it seeded."""
    with Session(engine, future=True) as session:
        if is_seeded(session):
            return False
        import_dataset(session, parse(seed_dir))
        session.commit()
        return True


def prepare_database(engine: Engine, seed: bool = True) -> None:
    """Migrate the schema to the newest revision and seed an empty knowledge base, holding a
    lock so that processes starting together do it once."""
    from db.migrate import upgrade

    with _seed_lock(engine):
        upgrade(engine)
        if seed:
            seed_if_empty(engine)
