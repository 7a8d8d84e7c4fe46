"""Tests for the cue tables: tools, typing cues, action cues, slots and feedback."""

from __future__ import annotations

import pytest

from lycheemem.domain.text.cues import (
    BUILTIN_TOOLS,
    classify_feedback,
    constraint_cue,
    detect_action_verb,
    failure_cue,
    find_affordances,
    find_tools,
    has_action_cue,
    has_overview_cue,
    has_procedural_cue,
    has_question_cue,
    missing_slots,
    preference_cue,
    procedure_cue,
    tool_affordance_cue,
)


def test_builtin_tool_list_is_substantial() -> None:
    assert len(BUILTIN_TOOLS) >= 60


def test_find_tools_word_boundaries_and_order() -> None:
    text = "Run pg_dump then kubectl apply; use Docker Compose and helm. Not mhelm or gitty."
    assert find_tools(text) == ["pg_dump", "kubectl", "docker compose", "helm"]


def test_find_tools_extra_names() -> None:
    assert find_tools("deploy with flyctl now") == []
    assert find_tools("deploy with flyctl now", extra=["FlyCtl"]) == ["flyctl"]


@pytest.mark.parametrize(
    ("text", "verb"),
    [
        ("Deploy the api to staging", "deploy"),
        ("please restart nginx", "restart"),
        ("How do I back up my postgres database?", "back up"),
        ("Can you help me roll back the release", "roll back"),
        ("I need to migrate the users table", "migrate"),
        ("怎么部署到生产环境", "deploy"),
        ("帮我备份数据库", "back up"),
        ("如何做", "do"),
    ],
)
def test_action_verbs(text: str, verb: str) -> None:
    assert detect_action_verb(text) == verb
    assert has_action_cue(text)


@pytest.mark.parametrize(
    "text",
    ["What is my favourite colour?", "The deploy went fine", "Alice likes running", "我喜欢猫"],
)
def test_no_action_cue(text: str) -> None:
    assert detect_action_verb(text) is None


def test_question_and_procedural_and_overview_cues() -> None:
    assert has_question_cue("Which namespace do we deploy to?")
    assert has_question_cue("我们用什么数据库")
    assert not has_question_cue("Deploy to prod")
    assert has_procedural_cue("How do I rotate keys")
    assert has_procedural_cue("what are the steps")
    assert has_procedural_cue("备份的步骤")
    assert not has_procedural_cue("I like tea")
    assert has_overview_cue("Summarize all my preferences")
    assert has_overview_cue("总结一下")
    assert not has_overview_cue("What is my name")


def test_slot_detection_with_synonyms() -> None:
    assert missing_slots("deploy", "deploy the api") == ["environment", "namespace", "version"]
    assert missing_slots("deploy", "deploy v1.4 to prod in namespace web") == []
    assert missing_slots("back up", "back up postgres nightly") == ["destination"]
    assert missing_slots("run", "run tests") == []
    assert missing_slots(None, "anything") == []


def test_typing_cues() -> None:
    assert procedure_cue("First build the image, then push it")
    assert procedure_cue("To back up Postgres, Alice runs pg_dump nightly")
    assert procedure_cue("步骤如下")
    failure = failure_cue("Helm upgrade failed because the namespace was kube-system")
    assert failure is not None and failure.cue == "failed"
    assert failure.obj.startswith("the namespace")
    assert failure_cue("部署超时了") is not None
    constraint = constraint_cue("Deploys must pass the migration dry-run first")
    assert constraint is not None and constraint.obj.startswith("pass the migration")
    assert constraint_cue("Never deploy on Fridays") is not None
    assert constraint_cue("I always loved painting") is None
    assert constraint_cue("生产环境必须审批") is not None
    assert preference_cue("I prefer window seats") is not None
    assert preference_cue("Alice loves jazz") is not None
    assert preference_cue("It looks like rain") is None
    assert preference_cue("我更喜欢靠窗") is not None


def test_tool_affordance_and_affordance_phrases() -> None:
    assert tool_affordance_cue("ruff can auto-fix import order", ["ruff"])
    assert not tool_affordance_cue("I ran ruff yesterday", ["ruff"])
    assert find_affordances("ruff can auto-fix import order with --fix") == [
        "auto-fix import order"
    ]
    assert find_affordances("you can be sure") == []


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Actually, it should be port 8080", ("correction", "fail")),
        ("That's wrong, the worker crashed", ("correction", "fail")),
        ("不对，应该是8080", ("correction", "fail")),
        ("It failed again", ("negative", "fail")),
        ("still broken after that", ("negative", "fail")),
        ("it didn't work", ("negative", "fail")),
        ("it didn’t work", ("negative", "fail")),
        ("还是报错", ("negative", "fail")),
        ("That worked, thanks!", ("positive", "success")),
        ("works now", ("positive", "success")),
        ("解决了", ("positive", "success")),
    ],
)
def test_feedback_classification(text: str, label: tuple[str, str]) -> None:
    assert classify_feedback(text) == label


@pytest.mark.parametrize("text", ["Thanks for the summary", "errorless runs", "prefixed names"])
def test_feedback_none_and_word_boundaries(text: str) -> None:
    assert classify_feedback(text) is None
