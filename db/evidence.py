"""Answering a question from the verbatim passages behind the records in focus.

Every record of the knowledge base carries the passages of its sources that state it. When a user
asks about something on screen ("how many attended?", "when did they sign?", "do you have his
email?") and no dedicated query fits, the answer is the passage that answers it — quoted, with its
source — or, when none does, a clear "the sources don't say" about that record. Nothing is stated
that is not in a passage.

Ranking: the records in scope (and the records tied to them: an organisation's partnerships,
events, contacts and programmes) give a few dozen candidate passages through the evidence index;
each is scored by the question's content words it contains (weighted by how rare they are in the
knowledge base) and must satisfy the kind of fact the question asks for (a number for "how
many", a year for "when", an address for "email"…). Question words are matched in English,
German, French and Japanese.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db import models as m
from db.common import sources_for
from db.engine import session_scope
from db.results import SourceRef

RECORD_TYPES = ("organisations", "partnerships", "events", "programmes", "contacts", "market_facts")
MAX_RELATED = 60

# The kind of fact a question asks for: cue words (stems, any language) → what a passage must hold.
_NUMBER = re.compile(
    r"(?<![\d.,])(?!(?:19|20)\d\d(?!\d|[,.]\d))\d[\d,.]*(?!\s*(?:january|february|march|april|may|june|july|"
    r"august|september|october|november|december))|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    r"twelve|fifteen|twenty|thirty|forty|fifty|hundred|thousand|dozens?)\b",
    re.I,
)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b|\d{4}年")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_PHONE = re.compile(r"(?:\+\d[\d ()./-]{6,}\d|\b0\d{1,4}[- ]\d{2,4}[- ]\d{3,4}\b|\btel\b)", re.I)
_MONEY = re.compile(r"(?:€|\$|¥|£|\beur\b|\beuros?\b|\byen\b|\busd\b|円|ユーロ|\bmillion|\bbillion|\bbn\b|億|万)", re.I)
_IN_PLACE = re.compile(r"\b(?:in|at|à|en|im|in der)\s+(?:the\s+)?[A-Z][\w-]+|で開催|にて")
_WEB = re.compile(r"https?://|www\.", re.I)


def _words(single: str, phrases: str = "") -> tuple[str, ...]:
    return tuple(single.split()) + tuple(p for p in phrases.split("|") if p)


@dataclass(frozen=True)
class Cue:
    name: str  # e.g. "count"
    words: tuple[str, ...]  # lower-case stems / phrases, matched at word starts (or anywhere for CJK)
    needs: re.Pattern[str] | None  # what a passage must contain to answer it
    what: str  # how the reply names what was asked ("how many took part")


# Cue words match whole words; a word ending in "*" is a prefix ("fund*": funding, funded).
CUES: tuple[Cue, ...] = (
    Cue("email", _words("email* e-mail* courriel mailadresse メール", "mail address|adresse mail"), _EMAIL, "email"),
    Cue(
        "phone",
        _words("phone* telephone* tel téléphone telefon* anrufen 電話", "call them|numéro de tél"),
        _PHONE,
        "phone",
    ),
    Cue(
        "website",
        _words("website* url homepage webseite ウェブサイト ホームページ", "web site|site web"),
        _WEB,
        "website",
    ),
    Cue(
        "money",
        _words(
            "budget* fund* funding cost* grant* subsid* financ* euro euros yen montant kosten förder* "
            "予算 費用 助成 金額 いくら",
            "how much money|combien d'argent",
        ),
        _MONEY,
        "money",
    ),
    Cue(
        "count",
        _words(
            "size headcount combien anzahl 何人 何社 いくつ 規模 人数 数は どのくらい どれくらい 何件",
            "how many|how much|number of|how big|how large|nombre de|wie viele|wie viel|wie groß",
        ),
        _NUMBER,
        "count",
    ),
    Cue(
        "date",
        _words(
            "when date quand wann いつ 何年 日程 日付",
            "what year|which year|since when|how long ago|quelle année|depuis quand|seit wann|welchem jahr",
        ),
        _YEAR,
        "date",
    ),
    Cue(
        "outcome",
        _words(
            "result* outcome* achiev* ergebnis* résultat* 成果 結果", "came out|come out|led to|lead to|what happened"
        ),
        None,
        "outcome",
    ),
    Cue(
        "place",
        _words("where venue location held hosted où wo どこ 場所 会場", "which city|take place|took place|wo fand"),
        None,
        "place",
    ),
)

_STOP = frozenset(
    """
a an the and or of to in on at for with by from as is are was were be been being do does did done
have has had it its it's they them their there this that these those what which who whom whose when
where why how any some many much more most can could would should will shall may might must i me my
we our you your he him his she her about into than then so not no yes please tell know say said also
just only ok okay hi hello thanks thank show give get find list see like want need one ones two
der die das und oder ein eine einer eines mit von zu im in auf für ist sind war wie was wer wo wann
welche welcher welches gibt es ich wir sie du ihr den dem des bitte noch auch
le la les un une des du de et ou en au aux pour avec par est sont était qui que quoi quel quelle
quels quelles où quand comment combien ce cette ces il elle ils elles nous vous je leur leurs sur
dans pas plus svp merci
together ever over actually exactly really still already yet ago now anything something thing things
there's what's who's where's when's how's whats wheres whos hows pls plz thx any other others else
japan japanese europe european eu
    """.split()  # noqa: SIM905
)
# Words that ask for the same thing in different words (after stemming): a question stem matches
# a passage holding any stem of its group.
_GROUPS = (
    "atten particip visit delega attende teilneh besuch 参加 来場",
    "sign mou memor agree contr accord vertrag unterz 締結 覚書 協定",
    "result outcom came led achiev happen impact ergebn résult 成果 結果",
    "member size big large mitgli membre 会員 規模",
    "start begin found creat launch establ gründ 設立 開始",
    "import share growth grow increa rise trend anteil wachs croiss 輸入 成長",
)
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.U)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]+")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold()


_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ers", "ies", "ied", "ed", "es", "er", "en", "s", "e")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]


def stems(text: str) -> list[str]:
    """Content-word stems of `text`: Latin words stripped of common endings and cut to 5 letters,
    CJK runs as character pairs."""
    folded = _fold(text)
    out = []
    for word in _WORD.findall(_CJK.sub(" ", folded)):
        for part in re.split(r"[-']", word):
            if len(part) >= 3 and part not in _STOP and not part.isdigit():
                out.append(_stem(part))
    for run in _CJK.findall(folded):
        out.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    return out


@lru_cache(maxsize=1)
def _group_of() -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for line in _GROUPS:
        group = frozenset(w if _CJK.search(w) else _stem(w) for w in line.split())
        for word in group:
            out[word] = group | out.get(word, frozenset())
    return out


def _matches(stem: str, passage_stems: set[str]) -> bool:
    return stem in passage_stems or bool(_group_of().get(stem, frozenset()) & passage_stems)


@lru_cache(maxsize=512)
def _cue_pattern(word: str) -> re.Pattern[str]:
    if word.endswith("*"):
        return re.compile(r"(?<![^\W_])" + re.escape(word[:-1]))
    return re.compile(r"(?<![^\W_])" + re.escape(word) + r"(?![^\W_])")


_GENERIC = frozenset(
    _stem(w)
    for w in (
        "market",
        "size",
        "figure",
        "number",
        "data",
        "value",
        "total",
        "big",
        "large",
        "per",
        "year",
        "annual",
        "rate",
    )
)


def unmatched_words(question: str, texts: Sequence[str], named: Iterable[str] = ()) -> list[str]:
    """The informative words of `question` that none of `texts` holds (ignoring the words naming
    the topic and generic ones like "market"): what was asked that these records do not state."""
    have: set[str] = set()
    for text in texts:
        have |= set(stems(text))
    skip = {s for w in named for s in stems(w)} | _GENERIC
    cue_stems = {s for c in detect_cues(question) for w in c.words for s in stems(w.rstrip("*"))}
    parts = (p for w in _WORD.findall(_fold(question)) for p in re.split(r"[-'’]", w))
    words = [w for w in parts if len(w) >= 3 and w not in _STOP]
    return [
        w for w in dict.fromkeys(words) if (s := _stem(w)) not in skip and s not in cue_stems and not _matches(s, have)
    ]


def asked_facts(question: str | None) -> list[str]:
    """The kinds of fact a question asks for: count, date, place, email, phone, website, money, outcome."""
    return [c.name for c in detect_cues(question or "")]


def detect_cues(question: str) -> list[Cue]:
    q = " " + _fold(question) + " "
    found = []
    for cue in CUES:
        for word in cue.words:
            hit = word in q if _CJK.search(word) else _cue_pattern(word).search(q) is not None
            if hit:
                found.append(cue)
                break
    # "how much" is a count unless money words are there too; a date+count question keeps both.
    if any(c.name == "money" for c in found):
        found = [c for c in found if c.name != "count" or "how many" in q or "combien de" in q]
        if re.search(r"\b(who|which|what (?:programme|program|organisation|body))\b[^?]*\bfund", q):
            found = [c for c in found if c.name != "money"]  # "who funded it": a funder, not an amount
    return found


@dataclass(frozen=True)
class Passage:
    record_type: str
    record_id: str
    record_name: str
    text: str
    source: SourceRef
    score: float


@dataclass(frozen=True)
class EvidenceAnswer:
    """Passages answering a question about some records, best first; empty when the sources don't say."""

    passages: list[Passage]
    scope: list[tuple[str, str, str]]  # (record_type, record_id, name) that were searched
    asked: list[str] = field(default_factory=list)  # cue names: count, date, place, email, …
    recorded: Passage | None = None  # when nothing answers: what the sources do say of the first record

    @property
    def found(self) -> bool:
        return bool(self.passages)


def _names(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    by_type: dict[str, list[str]] = {}
    for rtype, rid in keys:
        by_type.setdefault(rtype, []).append(rid)
    out: dict[tuple[str, str], str] = {}
    tables = {
        "organisations": (m.Organisation.id, m.Organisation.name),
        "events": (m.Event.id, m.Event.name),
        "programmes": (m.Programme.id, m.Programme.name),
        "contacts": (m.Contact.id, m.Contact.name),
        "market_facts": (m.MarketFact.id, m.MarketFact.topic),
    }
    for rtype, ids in by_type.items():
        if rtype in tables:
            id_col, name_col = tables[rtype]
            for rid, name in session.execute(select(id_col, name_col).where(id_col.in_(ids))):
                out[(rtype, rid)] = name
        elif rtype == "partnerships":
            a, b = m.Organisation.__table__.alias("a"), m.Organisation.__table__.alias("b")
            rows = session.execute(
                select(m.Partnership.id, a.c.name, b.c.name)
                .join(a, a.c.pk == m.Partnership.org_a_pk)
                .join(b, b.c.pk == m.Partnership.org_b_pk)
                .where(m.Partnership.id.in_(ids))
            )
            for rid, an, bn in rows:
                out[(rtype, rid)] = f"{an} – {bn}"
    return out


def related(session: Session, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The records tied to `keys`: an organisation's partnerships, events, contacts and programmes
    (and its groups' partnerships); a partnership's or event's organisations; a contact's
    organisation."""
    out: list[tuple[str, str]] = []
    org_ids = [rid for rtype, rid in keys if rtype == "organisations"]
    if org_ids:
        pks = list(session.scalars(select(m.Organisation.pk).where(m.Organisation.id.in_(org_ids))))
        groups = list(session.scalars(select(m.Membership.group_pk).where(m.Membership.member_pk.in_(pks))))
        ties = pks + groups
        out += [
            ("partnerships", pid)
            for pid in session.scalars(
                select(m.Partnership.id).where(or_(m.Partnership.org_a_pk.in_(ties), m.Partnership.org_b_pk.in_(ties)))
            )
        ]
        out += [
            ("events", eid)
            for eid in session.scalars(
                select(m.Event.id)
                .join(m.EventOrganisation, m.EventOrganisation.event_pk == m.Event.pk)
                .where(m.EventOrganisation.org_pk.in_(pks))
            )
        ]
        out += [("contacts", cid) for cid in session.scalars(select(m.Contact.id).where(m.Contact.org_pk.in_(pks)))]
        out += [
            ("programmes", pid)
            for pid in session.scalars(select(m.Programme.id).where(m.Programme.operator_pk.in_(pks)))
        ]
    part_ids = [rid for rtype, rid in keys if rtype == "partnerships"]
    if part_ids:
        for a, b in session.execute(
            select(m.Partnership.org_a_pk, m.Partnership.org_b_pk).where(m.Partnership.id.in_(part_ids))
        ):
            out += [("organisations", oid) for oid in _org_ids(session, [a, b])]
    event_ids = [rid for rtype, rid in keys if rtype == "events"]
    if event_ids:
        pks = session.scalars(
            select(m.EventOrganisation.org_pk)
            .join(m.Event, m.Event.pk == m.EventOrganisation.event_pk)
            .where(m.Event.id.in_(event_ids))
        )
        out += [("organisations", oid) for oid in _org_ids(session, list(pks))]
    contact_ids = [rid for rtype, rid in keys if rtype == "contacts"]
    if contact_ids:
        pks = session.scalars(select(m.Contact.org_pk).where(m.Contact.id.in_(contact_ids)))
        out += [("organisations", oid) for oid in _org_ids(session, [p for p in pks if p])]
    seen = set(keys)
    return [k for k in dict.fromkeys(out) if k not in seen][:MAX_RELATED]


def _org_ids(session: Session, pks: list[int]) -> list[str]:
    return list(session.scalars(select(m.Organisation.id).where(m.Organisation.pk.in_(pks)))) if pks else []


@dataclass(frozen=True)
class _Doc:
    record_type: str
    record_id: str
    text: str
    source: SourceRef
    stems: frozenset[str]


@dataclass(frozen=True)
class _Index:
    docs: list[_Doc]
    df: Counter
    places: list[str]  # place names (folded), to tell "in Cologne" answers a "where"

    def idf(self, stem: str) -> float:
        return math.log(1 + len(self.docs) / (1 + self.df.get(stem, 0)))


@lru_cache(maxsize=4)
def _index(url: str | None, version: str) -> _Index:
    """Every passage with its stems, per knowledge-base version. The evidence is curated (a few
    hundred passages; synthetic test organisations have none), so it is held in memory; a new
    import changes the version and the index is rebuilt on the next question."""
    docs = []
    with session_scope(url) as session:
        rows = session.execute(
            select(
                m.Evidence.record_type,
                m.Evidence.record_id,
                m.Evidence.passage,
                m.Source.id,
                m.Source.title,
                m.Source.file,
            )
            .join(m.Source, m.Source.id == m.Evidence.source_id)
            .order_by(m.Evidence.id)
        )
        places = [n for (n,) in session.execute(select(m.PlaceName.norm)) if n and len(n) >= 3]
        for rtype, rid, passage, sid, title, file in rows:
            docs.append(_Doc(rtype, rid, passage, SourceRef(sid, title, file, passage), frozenset(stems(passage))))
    df: Counter = Counter()
    for doc in docs:
        df.update(doc.stems)
    return _Index(docs, df, places)


def _current_index(url: str | None) -> _Index:
    from db.vocabulary import current_version

    return _index(url, current_version(url))


def search_evidence(
    question: str, exclude_words: Iterable[str] = (), limit: int = 2, url: str | None = None
) -> EvidenceAnswer:
    """The passages, anywhere in the knowledge base, that answer `question` — for a question that
    names nothing the entity extractor knows ("the yonezawa organic electronics collab"). A
    passage must hold most of the question's informative words, one of them rare."""
    cues = detect_cues(question)
    excluded = {s for w in exclude_words for s in stems(w)}
    cue_stems = {s for c in cues for w in c.words for s in stems(w)}
    content = [s for s in dict.fromkeys(stems(question)) if s not in excluded and s not in cue_stems]
    index = _current_index(url)
    if not content:
        return EvidenceAnswer([], [], [c.name for c in cues])
    weight = {s: index.idf(s) for s in content}
    total = sum(weight.values())
    scored = []
    for doc in index.docs:
        matched = [s for s in content if _matches(s, doc.stems)]
        if not matched:
            continue
        got = sum(weight[s] for s in matched)
        rare = any(index.df.get(s, 0) <= 8 for s in matched)
        rare_hits = sum(index.df.get(s, 0) <= 8 for s in matched)
        # one word identifies nothing unless it is all there is and next to unique ("yonezawa?")
        lone_name = len(content) == 1 and not cues and index.df.get(matched[0], 0) <= 2
        if len(matched) < 2 and not lone_name:
            continue
        if rare_hits < 2 and (got < 0.55 * total or not rare):
            continue
        if any(not _satisfies(c, doc.text, []) for c in cues if c.name != "place"):
            continue
        scored.append((got + 2.0 * len(cues), doc))
    scored.sort(key=lambda x: -x[0])
    keys = [(d.record_type, d.record_id) for _, d in scored[: limit * 3]]
    if not keys:
        return EvidenceAnswer([], [], [c.name for c in cues])
    with session_scope(url) as session:
        names = _names(session, keys)
    best: list[Passage] = []
    for score, d in scored:
        if len(best) >= limit or (best and score < 0.8 * best[0].score):
            break
        if all(d.text != b.text for b in best):
            best.append(
                Passage(
                    d.record_type,
                    d.record_id,
                    names.get((d.record_type, d.record_id), d.record_id),
                    d.text,
                    d.source,
                    round(score, 3),
                )
            )
    return EvidenceAnswer(best, [(p.record_type, p.record_id, p.record_name) for p in best], [c.name for c in cues])


def _passages(session: Session, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str, str, SourceRef]]:
    """The passages of `keys`, as (record type, id, passage, source)."""
    by_type: dict[str, list[str]] = {}
    for rtype, rid in keys:
        by_type.setdefault(rtype, []).append(rid)
    return [
        (rtype, rid, ref.passage, ref)
        for rtype, ids in by_type.items()
        for rid, refs in sources_for(session, rtype, ids).items()
        for ref in refs
    ]


def _field_facts(
    session: Session, keys: Sequence[tuple[str, str]], asked: set[str]
) -> list[tuple[str, str, str, SourceRef]]:
    """Emails and websites are fields of their records (taken from the same sources), not always
    words of a passage: stated as a line of their own, with the record's first source."""
    out = []
    contact_ids = [rid for rtype, rid in keys if rtype == "contacts"]
    org_ids = [rid for rtype, rid in keys if rtype == "organisations"]
    if "email" in asked and contact_ids:
        rows = session.execute(
            select(m.Contact.id, m.Contact.name, m.Contact.role, m.Contact.email).where(
                m.Contact.id.in_(contact_ids), m.Contact.email.is_not(None)
            )
        )
        for cid, name, role, email in rows:
            src = _first_source(session, "contacts", cid)
            if src and email:
                out.append(("contacts", cid, f"{name}" + (f" ({role})" if role else "") + f": {email}", src))
    if "place" in asked and org_ids:
        from db.reference import reference

        ref = reference(session)
        rows = session.execute(
            select(m.Organisation.id, m.Organisation.name, m.Organisation.place_id).where(
                m.Organisation.id.in_(org_ids), m.Organisation.place_id.is_not(None)
            )
        )
        for oid, name, place_id in rows:
            src = _first_source(session, "organisations", oid)
            chain = ref.place_chain(place_id)
            if src and chain:
                out.append(("organisations", oid, f"{name} is based in {', '.join(chain)}.", src))
    if "website" in asked and org_ids:
        rows = session.execute(
            select(m.Organisation.id, m.Organisation.name, m.Organisation.website).where(
                m.Organisation.id.in_(org_ids), m.Organisation.website.is_not(None)
            )
        )
        for oid, name, website in rows:
            src = _first_source(session, "organisations", oid)
            if src and website:
                out.append(("organisations", oid, f"{name}: {website}", src))
    return out


def _first_source(session: Session, rtype: str, rid: str) -> SourceRef | None:
    refs = sources_for(session, rtype, [rid]).get(rid) or []
    return refs[0] if refs else None


def answer_from_evidence(
    question: str,
    scope: Sequence[tuple[str, str]],
    exclude_words: Iterable[str] = (),
    limit: int = 2,
    url: str | None = None,
) -> EvidenceAnswer:
    """The passages of the records in `scope` (and those tied to them) that answer `question`.

    `exclude_words` are words that name the records themselves (they say which record, not what
    about it). Records named first in `scope` win ties.
    """
    scope = [(t, i) for t, i in dict.fromkeys(scope) if t in RECORD_TYPES and i][:12]
    cues = detect_cues(question)
    if not scope:
        return EvidenceAnswer([], [], [c.name for c in cues])
    excluded = {s for w in exclude_words for s in stems(w)}
    q_stems = [s for s in dict.fromkeys(stems(question)) if s not in excluded]
    cue_stems = {s for c in cues for w in c.words for s in stems(w)}
    content = [s for s in q_stems if s not in cue_stems]
    with session_scope(url) as session:
        extra = related(session, scope)
        names = _names(session, list(scope) + extra)
        rows = _passages(session, list(scope) + extra)
        rows += _field_facts(session, list(scope) + extra, {c.name for c in cues})
    index = _current_index(url)
    places = index.places if any(c.name == "place" for c in cues) else []
    rank = {key: i for i, key in enumerate(list(scope) + extra)}
    scored: list[Passage] = []
    for rtype, rid, text, source in rows:
        p_stems = set(stems(text))
        overlap = [s for s in content if _matches(s, p_stems)]
        score = sum(index.idf(s) for s in overlap)
        for cue in cues:
            if not _satisfies(cue, text, places):
                score = -1.0
                break
            score += 2.0
            if cue.name == "count" and overlap and _number_near(text, overlap):
                score += 3.0  # "3,300 European SMEs" for "how many smes"
        if score <= 0:
            continue
        direct = (rtype, rid) in scope
        one_of_a_kind = cues and all(c.name in {"date", "place", "email", "phone", "website"} for c in cues)
        if content and not overlap and not (one_of_a_kind and direct and len(scope) <= 2):
            # a passage that shares no word with the question answers it only when the question
            # asks for a one-of-a-kind fact (a date, a place, an address) about one or two
            # records and the passage holds it; a count needs to be a count *of* what was asked
            continue
        # the records asked about directly beat the ones tied to them
        score = score * (1.5 if direct else 1.0) - 0.01 * rank.get((rtype, rid), 0)
        scored.append(Passage(rtype, rid, names.get((rtype, rid), rid), text, source, round(score, 3)))
    scored.sort(key=lambda p: -p.score)
    best: list[Passage] = []
    direct_keys = set(scope)
    for p in scored:
        if best and (p.score < 0.6 * best[0].score or len(best) >= limit):
            break
        top_direct = bool(best) and (best[0].record_type, best[0].record_id) in direct_keys
        if top_direct and (p.record_type, p.record_id) not in direct_keys:
            continue  # the record asked about answered: passages of records tied to it only distract
        if all(p.text != b.text and (p.record_type, p.record_id) != (b.record_type, b.record_id) for b in best):
            best.append(p)
    recorded = None
    if not best:
        first = next((r for r in rows if (r[0], r[1]) == scope[0]), None)
        if first:
            recorded = Passage(first[0], first[1], names.get(scope[0], first[1]), first[2], first[3], 0.0)
    return EvidenceAnswer(best, [(t, i, names.get((t, i), i)) for t, i in scope], [c.name for c in cues], recorded)


def _number_near(text: str, asked: list[str], window: int = 4) -> bool:
    """Whether a count stands within `window` words of a word the question asked about."""
    words = _WORD.findall(_fold(text))
    numbers = [i for i, w in enumerate(words) if _NUMBER.fullmatch(w) or (w[:1].isdigit() and not _YEAR.fullmatch(w))]
    hits = [i for i, w in enumerate(words) if any(_matches(s, {_stem(w)}) for s in asked)]
    return any(abs(i - j) <= window for i in numbers for j in hits)


def _satisfies(cue: Cue, text: str, places: list[str]) -> bool:
    if cue.needs is not None:
        return cue.needs.search(text) is not None
    if cue.name == "place":
        folded = _fold(text)
        return _IN_PLACE.search(text) is not None or any(
            re.search(r"\b" + re.escape(p) + r"\b", folded) for p in places
        )
    return True


def scope_of_names(
    orgs: Sequence[str] = (),
    events: Sequence[str] = (),
    programmes: Sequence[str] = (),
    places: Sequence[str] = (),
    url: str | None = None,
) -> tuple[list[tuple[str, str]], list[str]]:
    """The records named by the user (organisations, events, programmes by name, alias or typo),
    and the names that match nothing in the knowledge base."""
    from db.organisations import find_org_pk
    from db.reference import reference
    from db.text import fold

    keys: list[tuple[str, str]] = []
    unknown: list[str] = []
    with session_scope(url) as session:
        for name in orgs:
            pk, _ = find_org_pk(session, name)
            oid = session.scalar(select(m.Organisation.id).where(m.Organisation.pk == pk)) if pk else None
            if oid:
                keys.append(("organisations", oid))
            else:
                unknown.append(name)
        for name in places:  # regions that are parties themselves ("Fukushima and NRW")
            key = fold(name)
            rows = session.execute(
                select(m.Organisation.id, m.Organisation.name).where(m.Organisation.kind == "region")
            )
            keys.extend(("organisations", oid) for oid, oname in rows if key and fold(oname).startswith(key))
        ref = reference(session)
        for name in programmes:
            pid = ref.resolve_programme(name)
            if pid:
                keys.append(("programmes", pid))
            else:
                unknown.append(name)
        rows = session.execute(select(m.Event.id, m.Event.name, m.Event.series)).all() if events else []
        for name in events:
            key = fold(name)
            hits = [eid for eid, ename, series in rows if key and (key in fold(ename) or key == fold(series or ""))]
            if hits:
                keys.extend(("events", eid) for eid in hits[:3])
            else:
                unknown.append(name)
    return keys, unknown
