"""Cue tables for the memory-only heuristics (MEMORY.md §13, §16.2, §16.4).

English cues match on word boundaries, Chinese cues by substring. All functions are
pure and cheap; compiled patterns are module constants (no I/O at import).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ACTION_VERBS",
    "BUILTIN_TOOLS",
    "SLOT_TABLE",
    "LIST_ITEM_RE",
    "CueMatch",
    "classify_feedback",
    "constraint_cue",
    "detect_action_verb",
    "failure_cue",
    "find_affordances",
    "find_tools",
    "has_action_cue",
    "has_overview_cue",
    "has_procedural_cue",
    "has_question_cue",
    "missing_slots",
    "preference_cue",
    "procedure_cue",
    "tool_affordance_cue",
]


@dataclass(frozen=True, slots=True)
class CueMatch:
    """A cue found in a text: the cue phrase and the words following it (its object)."""

    cue: str
    start: int
    end: int
    obj: str


def _en(words: Iterable[str]) -> str:
    alts = sorted({w.replace(" ", r"\s+") for w in words}, key=len, reverse=True)
    return r"(?<![\w'])(?:" + "|".join(alts) + r")(?![\w'])"


def _norm(text: str) -> str:
    # Curly apostrophes are common in chat clients; cues are written with ASCII ones.
    return text.replace("\u2019", "'").replace("\u2018", "'")


# --- tools --------------------------------------------------------------------------

BUILTIN_TOOLS: tuple[str, ...] = (
    "git", "github", "gitlab", "github actions", "docker", "docker compose", "docker-compose",
    "podman", "kubectl", "kubernetes", "k8s", "helm", "terraform", "ansible", "vagrant",
    "npm", "yarn", "pnpm", "pip", "pipx", "poetry", "conda", "pytest", "ruff", "mypy",
    "eslint", "prettier", "webpack", "vite", "cmake", "gcc", "clang", "cargo", "rustc",
    "golang", "nodejs", "node.js", "python", "maven", "gradle", "postgres", "postgresql",
    "psql", "pg_dump", "pg_restore", "mysql", "mysqldump", "redis", "mongodb", "sqlite",
    "nginx", "systemctl", "systemd", "cron", "crontab", "ssh", "scp", "rsync", "curl",
    "wget", "jq", "grep", "sed", "awk", "tmux", "vim", "aws", "aws cli", "gcloud", "s3",
    "jenkins", "circleci", "prometheus", "grafana", "elasticsearch", "kafka", "rabbitmq",
    "airflow", "jupyter", "vscode", "ffmpeg", "celery", "django", "fastapi", "flask",
    "react", "sentry", "datadog", "cloudflare", "vercel", "heroku", "letsencrypt", "certbot",
)  # fmt: skip
_TOOL_RE_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}


def _tool_pattern(extra: Sequence[str]) -> re.Pattern[str]:
    key = tuple(sorted({t.strip().lower() for t in extra if t.strip()}))
    pattern = _TOOL_RE_CACHE.get(key)
    if pattern is None:
        names = sorted({*BUILTIN_TOOLS, *key}, key=len, reverse=True)
        alts = "|".join(re.escape(n).replace(r"\ ", r"[\s-]+") for n in names)
        pattern = re.compile(rf"(?<![\w\-.])(?:{alts})(?![\w\-]|\.\w)", re.IGNORECASE)
        if len(_TOOL_RE_CACHE) < 64:
            _TOOL_RE_CACHE[key] = pattern
    return pattern


def find_tools(text: str, extra: Sequence[str] = ()) -> list[str]:
    """Return known tool names mentioned in ``text``, lower-case, in order, de-duplicated."""
    found: dict[str, None] = {}
    for m in _tool_pattern(extra).finditer(text):
        found.setdefault(re.sub(r"\s+", " ", m.group(0).lower()), None)
    return list(found)


# --- typing cues (§16.2) ----------------------------------------------------------------

LIST_ITEM_RE = re.compile(
    r"^\s*(?:\d{1,2}[.)]\s+|\d{1,2}、\s*|[-*•]\s+|step\s+\d+\s*[:.)]?\s+|"
    r"第[一二三四五六七八九十\d]+步[:：,，]?\s*)",
    re.IGNORECASE,
)
_PROCEDURE_EN = re.compile(
    r"\bfirst\b.*\bthen\b|\bsteps?\s+to\b|^\s*to\s+[\w\s\-]{2,60},\s*(?:[\w']+\s+)?(?:runs?|uses?|"
    r"executes?|calls?|types?|opens?|clicks?|sets?|adds?|installs?)\b|\bstep\s+\d+\b",
    re.IGNORECASE,
)
_PROCEDURE_ZH = re.compile(r"步骤|首先.*然后|先.{1,30}再")
_FAILURE_EN = re.compile(
    _en(["failed", "fails", "failing", "failure", "error", "errors", "crashed", "crashes",
         "crash", "timed out", "timeout", "didn't work", "did not work", "doesn't work",
         "does not work", "broke", "broken", "exception", "traceback", "segfault",
         "not working"]),
    re.IGNORECASE,
)  # fmt: skip
_FAILURE_ZH = re.compile(r"失败|报错|超时|崩溃|出错|错误")
_CONSTRAINT_STRONG_EN = re.compile(
    _en(["must", "must not", "mustn't", "do not", "at most", "at least", "no more than",
         "required", "is required", "requires", "deadline", "budget", "not allowed",
         "is forbidden", "cannot exceed", "has to", "have to"]),
    re.IGNORECASE,
)  # fmt: skip
_CONSTRAINT_WEAK_EN = re.compile(
    r"^\s*(?:please\s+)?(?:never|always|don't|only)\b",
    re.IGNORECASE,
)
_CONSTRAINT_ZH = re.compile(r"必须|不要|禁止|只能|至少|最多|不得|务必|不能超过|不允许")
_PREFERENCE_EN = re.compile(
    r"\b(?:i|we|you|they|he|she)\s+(?:really\s+|also\s+|just\s+|still\s+|absolutely\s+|"
    r"totally\s+|truly\s+|do\s+|don't\s+|do\s+not\s+)?(?:like|love|prefer|enjoy|hate|dislike|"
    r"adore)\b|\b(?:likes|loves|prefers|enjoys|hates|dislikes|adores)\b|\bfavou?rite\b|"
    r"\b(?:i'd|would)\s+rather\b|\bfan\s+of\b|\bcan't\s+stand\b|\bkeen\s+on\b|"
    r"\bpassionate\s+about\b",
    re.IGNORECASE,
)
_PREFERENCE_ZH = re.compile(r"更喜欢|不喜欢|喜欢|偏好|讨厌|最爱|爱吃|爱看|爱玩|热爱")
_AFFORDANCE_VERBS = r"(?:can|could|supports?|lets\s+you|allows?(?:\s+you)?|is\s+used\s+for|is\s+for|helps?\s+(?:you\s+)?)"  # noqa: E501
_AFFORDANCE_ZH = re.compile(r"可以用|支持|用于|能够用")
_CAN_RE = re.compile(r"\bcan\s+((?:[\w\-]+\s*){1,3})", re.IGNORECASE)
_OVERVIEW_RE = re.compile(
    r"\b(?:overall|summari[sz]e|summary|overview|in\s+general|all\s+(?:my|of\s+my|the\s+things)|"
    r"everything)\b|总结|所有|概括|总体|全部",
    re.IGNORECASE,
)


def procedure_cue(text: str) -> bool:
    """True for step lists, "first ... then", "steps to", "to X, run ..." and 步骤/首先…然后."""
    t = _norm(text)
    return bool(LIST_ITEM_RE.match(t) or _PROCEDURE_EN.search(t) or _PROCEDURE_ZH.search(t))


def _object_after(text: str, end: int, words: int = 4) -> str:
    tail = re.findall(r"[\w\-./]+", text[end:])[:words]
    return " ".join(tail)


def _cue(pattern: re.Pattern[str], text: str) -> CueMatch | None:
    m = pattern.search(text)
    if m is None:
        return None
    return CueMatch(m.group(0).strip().lower(), m.start(), m.end(), _object_after(text, m.end()))


def failure_cue(text: str) -> CueMatch | None:
    """Return the first failure cue (failed, error, 报错, ...) and the words after it.

    When the sentence explains the failure with "because", the object is the reason.
    """
    t = _norm(text)
    found = _cue(_FAILURE_EN, t) or _cue(_FAILURE_ZH, t)
    if found is None:
        return None
    because = re.search(r"\b(?:because|since|due\s+to)\b|因为|由于", t[found.start :])
    if because:
        end = found.start + because.end()
        return CueMatch(found.cue, found.start, found.end, _object_after(t, end))
    return found


def constraint_cue(text: str) -> CueMatch | None:
    """Return the first constraint cue (must, never, 必须, ...) and its object.

    Weak cues (always, never, only) count only when the sentence is not a preference.
    """
    t = _norm(text)
    strong = _cue(_CONSTRAINT_STRONG_EN, t) or _cue(_CONSTRAINT_ZH, t)
    if strong is not None:
        return strong
    weak = _cue(_CONSTRAINT_WEAK_EN, t)
    if weak is not None and preference_cue(t) is None:
        return weak
    return None


def preference_cue(text: str) -> CueMatch | None:
    """Return the first preference cue (like, prefer, favourite, 喜欢, ...)."""
    t = _norm(text)
    return _cue(_PREFERENCE_EN, t) or _cue(_PREFERENCE_ZH, t)


def tool_affordance_cue(text: str, tools: Sequence[str]) -> bool:
    """True when a known tool is followed by "can / supports / lets you / is used for"."""
    t = _norm(text)
    if tools and _AFFORDANCE_ZH.search(t):
        return True
    for tool in tools:
        name = re.escape(tool).replace(r"\ ", r"[\s-]+")
        if re.search(
            rf"(?<![\w-]){name}(?![\w-])\s+(?:also\s+)?{_AFFORDANCE_VERBS}\b", t, re.IGNORECASE
        ):
            return True
    return False


def find_affordances(text: str) -> list[str]:
    """Return "can X" phrases (up to three words) and Chinese 可以用/支持/用于 objects."""
    t = _norm(text)
    out: dict[str, None] = {}
    for m in _CAN_RE.finditer(t):
        phrase = " ".join(m.group(1).split()[:3]).lower()
        first = phrase.split(" ", 1)[0]
        if phrase and first not in ("be", "you", "i", "we", "not", "also", "only"):
            out.setdefault(phrase, None)
    for m in re.finditer(r"(?:可以用|支持|用于|能够)([\u4e00-\u9fff]{2,8})", t):
        out.setdefault(m.group(1), None)
    return list(out)


def has_overview_cue(text: str) -> bool:
    """True for overview questions: overall, summarize, all my ..., 总结, 所有."""
    return _OVERVIEW_RE.search(_norm(text)) is not None


# --- action cues and slots (§16.4) -----------------------------------------------------

ACTION_VERBS: dict[str, tuple[str, ...]] = {
    "deploy": ("deploy", "deploys", "deploying", "ship", "release", "部署", "发布", "上线"),
    "install": ("install", "installing", "安装"),
    "configure": ("configure", "config", "configuring", "配置", "设置"),
    "set up": ("set up", "setup", "setting up", "搭建"),
    "fix": ("fix", "fixing", "repair", "resolve", "修复", "解决"),
    "debug": ("debug", "debugging", "troubleshoot", "diagnose", "调试", "排查"),
    "run": ("run", "running", "execute", "运行", "执行"),
    "build": ("build", "compile", "building", "构建", "编译"),
    "migrate": ("migrate", "migrating", "迁移"),
    "back up": ("back up", "backup", "backing up", "备份"),
    "restore": ("restore", "recover", "restoring", "恢复"),
    "roll back": ("roll back", "rollback", "revert", "回滚"),
    "create": ("create", "generate", "add", "创建", "新建"),
    "write": ("write", "draft", "编写", "写"),
    "update": ("update", "upgrade", "bump", "更新", "升级"),
    "delete": ("delete", "remove", "drop", "uninstall", "删除", "卸载"),
    "restart": ("restart", "reboot", "reload", "重启"),
    "schedule": ("schedule", "automate", "定时", "调度"),
}
_VERB_LOOKUP = {form: verb for verb, forms in ACTION_VERBS.items() for form in forms}
_EN_VERB_FORMS = [f for f in _VERB_LOOKUP if f.isascii()]
_ZH_VERB_FORMS = sorted((f for f in _VERB_LOOKUP if not f.isascii()), key=len, reverse=True)
_EN_VERB_RE = re.compile(_en(_EN_VERB_FORMS), re.IGNORECASE)
_LEAD_RE = re.compile(
    r"(?:^|[.!?;:,]\s*|\n)\s*(?:please\s+|pls\s+|now\s+|then\s+)?(?P<verb>"
    + "|".join(sorted((f.replace(" ", r"\s+") for f in _EN_VERB_FORMS), key=len, reverse=True))
    + r")(?![\w'])",
    re.IGNORECASE,
)
_REQUEST_RE = re.compile(
    r"\b(?:how\s+(?:do|can|should|would|could)\s+(?:i|we|you)|how\s+to|help\s+me(?:\s+to)?|"
    r"should\s+(?:i|we)|"
    r"can\s+you|could\s+you|would\s+you|will\s+you|please|i\s+need\s+to|i\s+want\s+to|"
    r"we\s+need\s+to|let's|lets|i'd\s+like\s+to|i\s+have\s+to|walk\s+me\s+through)\b",
    re.IGNORECASE,
)
_QUESTION_RE = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why)\b|什么|哪|谁|何时",
                          re.IGNORECASE)  # fmt: skip
_PROCEDURAL_RE = re.compile(
    r"\bhow\s+(?:do|can|should|would)\s+(?:i|we)\b|\bhow\s+to\b|\bsteps?\b|\bprocedure\b|"
    r"\binstructions?\b|如何|步骤|怎么做|流程",
    re.IGNORECASE,
)


def detect_action_verb(text: str) -> str | None:
    """Return the canonical action verb when ``text`` asks for an action, else None.

    An English verb counts when it leads a sentence (imperative) or follows a request
    phrase ("how do I", "can you", "help me" ...) within six words; a Chinese verb counts
    anywhere. 怎么 / 如何 alone make an action request with verb ``do``.
    """
    t = _norm(text)
    lead = _LEAD_RE.search(t)
    if lead:
        return _VERB_LOOKUP[re.sub(r"\s+", " ", lead.group("verb").lower())]
    for req in _REQUEST_RE.finditer(t):
        window = " ".join(t[req.end() :].split()[:6])
        verb = _EN_VERB_RE.search(window)
        if verb:
            return _VERB_LOOKUP[re.sub(r"\s+", " ", verb.group(0).lower())]
    for form in _ZH_VERB_FORMS:
        if len(form) > 1 and form in t:
            return _VERB_LOOKUP[form]
    if re.search(r"怎么|如何", t):
        return "do"
    return None


def has_action_cue(text: str) -> bool:
    """True when ``text`` asks for an action (see :func:`detect_action_verb`)."""
    return detect_action_verb(text) is not None


def has_question_cue(text: str) -> bool:
    """True for wh-questions: what, which, who, when, where, why, 什么, 哪, 谁, 何时."""
    return _QUESTION_RE.search(_norm(text)) is not None


def has_procedural_cue(text: str) -> bool:
    """True for "how do I", "how to", "steps", 如何, 步骤 (skill retrieval in answer mode)."""
    return _PROCEDURAL_RE.search(_norm(text)) is not None


SLOT_TABLE: dict[str, tuple[str, ...]] = {
    "deploy": ("environment", "namespace", "version"),
    "back up": ("database", "destination", "schedule"),
    "install": ("version", "platform"),
    "configure": ("file", "key", "value"),
    "migrate": ("source", "target"),
    "restore": ("backup", "target"),
    "schedule": ("time", "frequency"),
}
_SLOT_SYNONYMS: dict[str, re.Pattern[str]] = {
    "environment": re.compile(
        r"\b(?:environment|env|prod|production|staging|stage|dev|development|test|testing|qa|"
        r"uat|sandbox|preprod)\b|环境|生产|测试|预发", re.IGNORECASE),
    "namespace": re.compile(r"\b(?:namespace|ns|kube-system|default\s+namespace)\b|命名空间",
                            re.IGNORECASE),
    "version": re.compile(
        r"\b(?:version|release|tag|latest|v\d+(?:\.\d+)*|\d+\.\d+(?:\.\d+)?)\b|版本",
        re.IGNORECASE),
    "platform": re.compile(
        r"\b(?:platform|linux|windows|macos|mac|osx|ubuntu|debian|centos|fedora|alpine|arm64|"
        r"x86|amd64|android|ios)\b|平台|系统", re.IGNORECASE),
    "database": re.compile(
        r"\b(?:database|db|postgres|postgresql|mysql|sqlite|mongodb|mongo|redis|mariadb)\b|数据库",
        re.IGNORECASE),
    "destination": re.compile(
        r"\b(?:destination|bucket|s3|gcs|azure\s+blob|nas|remote|folder|directory|path)\b|"
        r"目标|目录|存到|存储到", re.IGNORECASE),
    "schedule": re.compile(
        r"\b(?:schedule|daily|nightly|weekly|hourly|monthly|cron|every)\b|每天|每周|定时|每晚",
        re.IGNORECASE),
    "file": re.compile(r"\b(?:file|config\s+file|[\w\-]+\.(?:ya?ml|toml|json|ini|conf|cfg|env))\b|"
                       r"文件", re.IGNORECASE),
    "key": re.compile(r"\b(?:key|setting|option|parameter|field|variable)\b|键|参数|选项",
                      re.IGNORECASE),
    "value": re.compile(r"\b(?:value|to\s+\d+|=\s*\S+)|值", re.IGNORECASE),
    "source": re.compile(r"\b(?:source|from)\b|源|从", re.IGNORECASE),
    "target": re.compile(r"\b(?:target|into|onto|destination)\b|目标|到", re.IGNORECASE),
    "backup": re.compile(r"\b(?:backup|snapshot|dump|archive)\b|备份|快照", re.IGNORECASE),
    "time": re.compile(r"\b(?:time|at\s+\d{1,2}(?::\d{2})?|\d{1,2}\s*(?:am|pm)|o'clock|midnight|"
                       r"noon)\b|点|时间", re.IGNORECASE),
    "frequency": re.compile(
        r"\b(?:frequency|every|daily|nightly|weekly|hourly|monthly|once|twice)\b|每天|每周|每小时|"
        r"频率", re.IGNORECASE),
}  # fmt: skip


def missing_slots(verb: str | None, text: str) -> list[str]:
    """Return the slots of ``verb`` that neither appear nor have a synonym in ``text``."""
    if not verb or verb not in SLOT_TABLE:
        return []
    t = _norm(text)
    return [slot for slot in SLOT_TABLE[verb] if not _SLOT_SYNONYMS[slot].search(t)]


# --- feedback (§13) ---------------------------------------------------------------------

_CORRECTION_EN = re.compile(
    _en(["actually", "that's wrong", "that is wrong", "that's not right", "that's incorrect",
         "should be", "should have been", "not what i meant", "you're wrong"]),
    re.IGNORECASE,
)  # fmt: skip
_CORRECTION_ZH = re.compile(r"不对|应该是|其实是|错了|不是这样")
_NEGATIVE_EN = re.compile(
    _en(["failed", "fails", "failing", "error", "errors", "didn't work", "did not work",
         "doesn't work", "does not work", "still broken", "still failing", "not working",
         "hasn't worked", "never worked", "not fixed", "still not", "no luck", "crashed"]),
    re.IGNORECASE,
)  # fmt: skip
_NEGATIVE_ZH = re.compile(r"报错|失败|没用|不行|还是不|崩溃")
_POSITIVE_EN = re.compile(
    _en(["worked", "works now", "working now", "it works", "fixed", "that did it", "solved",
         "perfect, thanks", "all good now"]),
    re.IGNORECASE,
)  # fmt: skip
_POSITIVE_ZH = re.compile(r"成功|解决了|可以了|好了|搞定")


def classify_feedback(text: str) -> tuple[str, str] | None:
    """Classify a user turn as implicit feedback: ``(feedback, outcome)`` or None.

    First match wins: correction -> ``("correction", "fail")``, negative ->
    ``("negative", "fail")``, positive -> ``("positive", "success")``.
    """
    t = _norm(text)
    if _CORRECTION_EN.search(t) or _CORRECTION_ZH.search(t):
        return "correction", "fail"
    if _NEGATIVE_EN.search(t) or _NEGATIVE_ZH.search(t):
        return "negative", "fail"
    if _POSITIVE_EN.search(t) or _POSITIVE_ZH.search(t):
        return "positive", "success"
    return None
