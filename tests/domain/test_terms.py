"""Tests for the segmenter, identifiers, FTS query builder and lexical overlap."""

from __future__ import annotations

import sqlite3

import pytest

from lycheemem.domain.text.terms import (
    STOPWORDS,
    build_fts_query,
    canon,
    composite_id_for,
    fts_document,
    fts_owner,
    lexical_overlap,
    light_stem,
    query_terms,
    record_id_for,
    segment,
)

TOKENIZER = "porter unicode61 remove_diacritics 2 tokenchars '_'"


def test_canon_normalises_width_case_space_and_trailing_stops() -> None:
    assert canon("  Ｈｅｌｌｏ   WORLD。") == "hello world"
    assert canon("Alice likes tea!!") == "alice likes tea"
    assert canon("Done ; ") == "done"
    assert canon("v1.2 is out.") == "v1.2 is out"
    assert canon("Straße") == "strasse"


def test_canon_is_idempotent() -> None:
    text = "  Mixed\tCase  Ｔｅｘｔ？ "
    assert canon(canon(text)) == canon(text)


def test_record_id_depends_on_tenant_and_canonical_text() -> None:
    a = record_id_for("alice", "Alice likes tea.")
    assert a == record_id_for("alice", "  alice LIKES tea")
    assert a != record_id_for("bob", "Alice likes tea.")
    assert len(a) == 64 and all(c in "0123456789abcdef" for c in a)


def test_composite_id_is_order_independent_and_tenant_scoped() -> None:
    one = composite_id_for("u", ["b", "a", "c"])
    assert one == composite_id_for("u", ["c", "a", "b"])
    assert one != composite_id_for("v", ["a", "b", "c"])
    assert one.startswith("comp_") and len(one) == 5 + 24


def test_fts_owner_shapes() -> None:
    assert fts_owner("") == "u_anon"
    owner = fts_owner("alice")
    assert owner.startswith("u") and len(owner) == 17
    assert owner != fts_owner("bob")


def test_segment_identifiers_whole_and_parts() -> None:
    tokens = segment("Run pg_dump in kube-system with v1.2")
    assert tokens[:4] == ["run", "pg_dump", "pg", "dump"]
    assert "kube_system" in tokens and "kube" in tokens and "system" in tokens
    assert "v1_2" in tokens


def test_segment_cjk_bigrams_and_script_boundaries() -> None:
    assert segment("发布前运行") == ["发布", "布前", "前运", "运行"]
    assert segment("运行Ruff检查") == ["运行", "ruff", "检查"]
    assert segment("我") == ["我"]


def test_fts_document_joins_all_texts() -> None:
    assert fts_document("Hello World", "", "pg_dump") == "hello world pg_dump pg dump"


def test_query_terms_drop_stopwords_and_split_cjk_at_stopwords() -> None:
    terms = query_terms("What is my favourite colour? 我的偏好是什么")
    assert "what" not in terms and "is" not in terms
    assert "favourite" in terms and "colour" in terms
    assert "偏好" in terms
    assert not any(t in STOPWORDS for t in terms)


@pytest.fixture
def fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        f'CREATE VIRTUAL TABLE docs USING fts5(fts_text, fts_owner, tokenize="{TOKENIZER}")'
    )
    rows = [
        ("alice", "Alice deploys with helm to kube-system"),
        ("alice", "发布前运行Ruff检查"),
        ("alice", "Alice prefers dark themes 深色主题"),
        ("alice", "NEAR the river Alice runs every morning"),
        ("bob", "Bob deploys with helm to kube-system"),
    ]
    for user, text in rows:
        conn.execute(
            "INSERT INTO docs(fts_text, fts_owner) VALUES (?, ?)",
            (fts_document(text), fts_owner(user)),
        )
    return conn


def _match(conn: sqlite3.Connection, text: str, user: str = "alice") -> list[str]:
    expr = build_fts_query(text, fts_owner(user))
    if expr is None:
        return []
    rows = conn.execute("SELECT fts_text FROM docs WHERE docs MATCH ?", (expr,)).fetchall()
    return [r[0] for r in rows]


def test_fts_query_matches_identifiers_for_owner_only(fts: sqlite3.Connection) -> None:
    hits = _match(fts, "how do I deploy to kube-system?")
    assert len(hits) == 1 and "kube_system" in hits[0]


def test_fts_query_matches_cjk_phrase_inside_unspaced_text(fts: sqlite3.Connection) -> None:
    assert any("运行" in h for h in _match(fts, "发布前运行"))
    assert any("ruff" in h for h in _match(fts, "检查"))
    # 我/吗 are stopwords: they split the run, leaving the phrase 深色主题.
    assert any("深色" in h for h in _match(fts, "我深色主题吗"))
    # A run is one phrase: its bigrams must appear contiguously.
    assert _match(fts, "喜欢深色主题") == []


def test_fts_query_porter_stemming_matches_inflections(fts: sqlite3.Connection) -> None:
    assert any("prefers" in h for h in _match(fts, "preferred themes"))


@pytest.mark.parametrize(
    "hostile",
    [
        '"',
        'say "hi',
        "NEAR(",
        "NEAR(river alice, 2)",
        "*",
        "alice*",
        "a OR",
        "AND OR NOT",
        "((unbalanced",
        "close)) paren",
        "col: value",
        "fts_owner: u_anon",
        "😀🚀",
        "^start",
        "-minus +plus",
        '運行 检查 😀 "NEAR" (OR)',
    ],
)
def test_hostile_inputs_never_raise(fts: sqlite3.Connection, hostile: str) -> None:
    expr = build_fts_query(hostile, fts_owner("alice"))
    if expr is not None:
        fts.execute("SELECT count(*) FROM docs WHERE docs MATCH ?", (expr,)).fetchone()


def test_hostile_words_still_match_as_plain_terms(fts: sqlite3.Connection) -> None:
    hits = _match(fts, "NEAR( river")
    assert len(hits) == 1 and "river" in hits[0]
    assert _match(fts, "fts_owner: bob") == []


def test_cannot_escape_owner_filter(fts: sqlite3.Connection) -> None:
    hits = _match(fts, '") OR fts_owner : "' + fts_owner("bob") + '" OR ("helm', user="alice")
    assert all("alice" in h for h in hits)


def test_build_fts_query_none_when_nothing_searchable() -> None:
    assert build_fts_query("what is the", "u_anon") is None
    assert build_fts_query("😀 ?!", "u_anon") is None
    assert build_fts_query("", "u_anon") is None


def test_build_fts_query_group_order_and_cap() -> None:
    expr = build_fts_query("deploy the service v2.1 to 部署环境 now quickly", "u_x", max_groups=8)
    assert expr is not None
    body = expr.split("AND (", 1)[1]
    assert body.index('"v2_1"') < body.index('"部署 署环 环境"') < body.index('"quickly"')
    capped = build_fts_query("alpha beta gamma delta epsilon zeta", "u_x", max_groups=2)
    assert capped is not None and capped.count(" OR ") == 1


def test_build_fts_query_df_pruning() -> None:
    df = {"common": 0.9, "rare": 0.01}.get
    expr = build_fts_query("common rare", "u_x", df=lambda t: df(t, 0.0))
    assert expr is not None and '"rare"' in expr and '"common"' not in expr
    only_common = build_fts_query("common", "u_x", df=lambda t: 0.9)
    assert only_common is not None and '"common"' in only_common


def test_light_stem_conflates_inflections() -> None:
    assert light_stem("deploys") == light_stem("deployed") == light_stem("deploying")
    assert light_stem("making") == light_stem("make")
    assert light_stem("parties") == light_stem("party")
    assert light_stem("stopped") == light_stem("stop")
    assert light_stem("class") == "class"
    assert light_stem("部署") == "部署"


def test_lexical_overlap_share_of_terms() -> None:
    terms = query_terms("deploying helm charts")
    assert lexical_overlap(terms, "Alice deployed the helm chart") == pytest.approx(1.0)
    assert lexical_overlap(terms, "helm only") == pytest.approx(1 / 3)
    assert lexical_overlap([], "anything") == 0.0
    assert lexical_overlap(query_terms("深色主题"), "喜欢深色主题") == pytest.approx(1.0)
