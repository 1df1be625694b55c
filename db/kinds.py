"""What users call kinds of organisations, mapped to the kinds the database stores."""

from __future__ import annotations

from db.text import fold

KIND_GROUPS: dict[str, tuple[str, ...]] = {
    "cluster": ("cluster", "meta_cluster", "cluster_partnership", "cluster_management", "network"),
    "meta_cluster": ("meta_cluster", "cluster_partnership"),
    "company": ("company",),
    "university": ("university", "research_institute"),
    "foundation": ("foundation",),
    "association": ("association",),
    "public_body": ("public_body", "agency", "region"),
}
KIND_WORDS = {
    "cluster": "cluster",
    "clusters": "cluster",
    "cluster organisation": "cluster",
    "cluster organization": "cluster",
    "network": "cluster",
    "bioregion": "cluster",
    "cluster management": "cluster",
    "technology park": "cluster",
    "meta cluster": "meta_cluster",
    "metacluster": "meta_cluster",
    "meta-cluster": "meta_cluster",
    "cluster partnership": "meta_cluster",
    "alliance": "meta_cluster",
    "escp 4i": "meta_cluster",
    "company": "company",
    "companies": "company",
    "sme": "company",
    "smes": "company",
    "firm": "company",
    "startup": "company",
    "start up": "company",
    "enterprise": "company",
    "corporation": "company",
    "manufacturer": "company",
    "university": "university",
    "universities": "university",
    "research institute": "university",
    "research centre": "university",
    "research center": "university",
    "lab": "university",
    "institute": "university",
    "academia": "university",
    "foundation": "foundation",
    "association": "association",
    "industry association": "association",
    "trade association": "association",
    "federation": "association",
    "public body": "public_body",
    "agency": "public_body",
    "government": "public_body",
    "ministry": "public_body",
    "authority": "public_body",
    # German, French, Japanese
    "kmu": "company", "unternehmen": "company", "firma": "company", "startups": "company", "hersteller": "company",
    "pme": "company", "entreprise": "company", "entreprises": "company", "societe": "company", "fabricant": "company",
    "企業": "company", "中小企業": "company", "会社": "company", "スタートアップ": "company", "メーカー": "company",
    "klaster": "cluster", "netzwerk": "cluster", "pole de competitivite": "cluster", "pole": "cluster",
    "reseau": "cluster", "クラスター": "cluster", "クラスタ": "cluster",
    "universitat": "university", "hochschule": "university", "forschungsinstitut": "university",
    "universite": "university", "laboratoire": "university", "institut": "university",
    "大学": "university", "研究所": "university", "研究機関": "university",
    "stiftung": "foundation", "fondation": "foundation", "財団": "foundation",
    "verband": "association", "verein": "association", "association professionnelle": "association",
    "協会": "association", "団体": "association", "工業会": "association",
    "behorde": "public_body", "ministerium": "public_body", "agence": "public_body", "ministere": "public_body",
    "省": "public_body", "庁": "public_body", "自治体": "public_body",
}  # fmt: skip


def resolve_kind(text: str | None) -> str | None:
    """The kind group for what the user said ("SMEs" → company), or None if unknown."""
    key = fold(text)
    if not key:
        return None
    if key in KIND_GROUPS:
        return key
    if key in KIND_WORDS:
        return KIND_WORDS[key]
    if key.endswith("s") and key[:-1] in KIND_WORDS:
        return KIND_WORDS[key[:-1]]
    return None


def kinds_of(group: str) -> tuple[str, ...]:
    return KIND_GROUPS.get(group, (group,))


KIND_LABELS = {
    "cluster": "cluster",
    "meta_cluster": "meta-cluster",
    "cluster_partnership": "cluster partnership",
    "cluster_management": "cluster management body",
    "foundation": "foundation",
    "association": "association",
    "public_body": "public body",
    "agency": "agency",
    "company": "company",
    "research_institute": "research institute",
    "university": "university",
    "network": "network",
    "region": "region",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def with_article(label: str) -> str:
    """ "a cluster", "an association"."""
    return ("an " if label[:1].lower() in "aeiou" else "a ") + label
