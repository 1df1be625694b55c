"""Support programmes: what they are, and whether a profile may apply (rules are data)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import models as m
from db.common import sources_for
from db.engine import session_scope
from db.kinds import kinds_of, resolve_kind
from db.reference import Reference, reference
from db.results import Eligibility, Profile, ProgrammeInfo, RuleCheck


def get_programme(name: str | None, url: str | None = None) -> tuple[ProgrammeInfo | None, list[str]]:
    """The programme meant by `name` (name, alias, typo), else did-you-mean names."""
    with session_scope(url) as session:
        ref = reference(session)
        pid = ref.resolve_programme(name)
        if pid is None:
            return None, _suggestions(session, ref, name)
        return _info(session, pid), []


def _suggestions(session: Session, ref: Reference, name: str | None) -> list[str]:
    """Programme names close to `name`, for "did you mean"."""
    if not name:
        return []
    progs = {p.id: p for p in session.scalars(select(m.Programme))}
    return ref.suggest(name, ref.programme_names, progs)


def list_programmes(sector: str | None = None, url: str | None = None) -> list[ProgrammeInfo]:
    with session_scope(url) as session:
        ref = reference(session)
        ids = list(session.scalars(select(m.Programme.id).order_by(m.Programme.name)))
        infos = [_info(session, pid) for pid in ids]
        if sector:
            sec = ref.resolve_sector(sector)
            if sec:
                infos = [
                    i
                    for i in infos
                    if not i.sectors
                    or sec.name in i.sectors
                    or any(ref.resolve_sector(s) and sec.path.startswith(ref.resolve_sector(s).path) for s in i.sectors)
                ]
        return infos


def _info(session: Session, pid: str) -> ProgrammeInfo:
    p = session.get(m.Programme, pid)
    ref = reference(session)
    return ProgrammeInfo(
        id=p.id,
        name=p.name,
        aliases=[n.name for n in p.names if n.name != p.name],
        operator=p.operator.name if p.operator else None,
        started=p.started,
        description=p.description,
        rules=[r.text for r in p.rules],
        sectors=[ref.sectors[s.sector_id].name for s in p.sectors],
        sources=sources_for(session, "programmes", [p.id]).get(p.id, []),
    )


def check_eligibility(
    programme: str | None, profile: Profile, url: str | None = None
) -> tuple[Eligibility | None, list[str]]:
    """Evaluate each rule of the programme against `profile`: met, not met or unknown."""
    with session_scope(url) as session:
        ref = reference(session)
        pid = ref.resolve_programme(programme)
        if pid is None:
            return None, _suggestions(session, ref, programme)
        info = _info(session, pid)
        rules = session.get(m.Programme, pid).rules
        checks = [_check(ref, r, profile) for r in rules]
        if not checks:
            return Eligibility(info, "no_rules", [], "The documents I have state no eligibility rules for it."), []
        outcomes = {c.outcome for c in checks}
        verdict = "not_eligible" if "not_met" in outcomes else "eligible" if outcomes == {"met"} else "depends"
        return Eligibility(info, verdict, checks, _advice(ref, rules, checks)), []


def _country_code(ref: Reference, text: str | None) -> str | None:
    row = ref.resolve_place(text) if text else None
    return row.country if row else None


def _check(ref: Reference, rule: m.ProgrammeRule, profile: Profile) -> RuleCheck:
    vals = rule.values or []
    if rule.kind in {"applicant_country_in", "partner_country_in"}:
        where = profile.home if rule.kind == "applicant_country_in" else profile.target
        code = _country_code(ref, where)
        names = ", ".join(_country_names(ref, vals))
        if code is None:
            return RuleCheck(rule.text, "unknown", f"Open to organisations from {names}; tell me where you are based.")
        ok = code in vals
        return RuleCheck(
            rule.text,
            "met" if ok else "not_met",
            f"You are in {_country_names(ref, [code])[0]}; it is open to {names}.",
        )
    if rule.kind == "applicant_kind_in":
        group = resolve_kind(profile.kind) if profile.kind else None
        if group is None:
            return RuleCheck(rule.text, "unknown", "It depends on what kind of organisation you are.")
        ok = bool(set(kinds_of(group)) & set(vals))
        return RuleCheck(rule.text, "met" if ok else "not_met", f"You are a {group.replace('_', ' ')}.")
    if rule.kind in {"requires_previous_contact", "requires_market_ready"}:
        flag = profile.previous_contact if rule.kind == "requires_previous_contact" else profile.market_ready
        if flag is None:
            return RuleCheck(rule.text, "unknown", "You would need to confirm this.")
        return RuleCheck(rule.text, "met" if flag else "not_met", "As you told me.")
    if rule.kind == "sector_in":
        if not profile.sectors:
            return RuleCheck(rule.text, "unknown", "It depends on your sector.")
        mine = [ref.resolve_sector(s) for s in profile.sectors]
        allowed = [ref.sectors[v] for v in vals if v in ref.sectors]
        ok = any(s and any(s.path.startswith(a.path) for a in allowed) for s in mine)
        return RuleCheck(rule.text, "met" if ok else "not_met", "Compared with your sector.")
    return RuleCheck(rule.text, "unknown", "")


def _country_names(ref: Reference, codes: list[str]) -> list[str]:
    by_code = {p.country: p.name for p in ref.places.values() if p.kind == "country" and p.country}
    return [by_code.get(c, c) for c in codes]


def _advice(ref: Reference, rules, checks: list[RuleCheck]) -> str | None:
    for rule, check in zip(rules, checks, strict=True):
        if rule.kind == "applicant_country_in" and check.outcome == "not_met":
            names = " or ".join(_country_names(ref, rule.values or []))
            return (
                f"You cannot apply yourself: the applicant must be from {names}. "
                f"A partner organisation there can apply, with you as its overseas partner."
            )
    return None
