"""The runbooks (docs/operations/runbooks/) hold: one page per topic with its five sections,
every alarm they name is one infra/components/monitoring.py makes, and every command they quote
exists: each `make` target in the Makefile, each ops verb in the CLI, each `aws` operation in
botocore's service models (what the aws CLI is built from)."""

from __future__ import annotations

import re
import shlex

import pytest

from functions.registry import REPO_ROOT, discover
from infra.components.naming import pascal

RUNBOOKS = REPO_ROOT / "docs" / "operations" / "runbooks"
PAGES = sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")
SECTIONS = ("## Symptoms", "## Alarm", "## Commands", "## Verify", "## Expected time")
#: The topics issue 14 asks for, each a page.
TOPICS = {
    "restore-database-point-in-time",
    "recover-file-versions",
    "lose-a-region",
    "redrive-dead-letter-queue",
    "rebuild-vector-index",
    "rotate-keys",
    "rotate-database-credentials",
    "lose-redis",
    "stuck-documents",
    "triage-request-id",
    "load-spike",
    "promote-read-replica",
}
#: The aws CLI's names of services whose botocore name differs.
CLI_SERVICES = {"s3api": "s3"}
#: The aws CLI's own commands, beside the API operations.
AWS_CLI_COMMANDS = {("s3", "cp"), ("s3", "ls"), ("s3", "sync"), ("logs", "tail")}


def _alarm_ids() -> set[str]:
    source = (REPO_ROOT / "infra" / "components" / "monitoring.py").read_text()
    ids = set(re.findall(r'self\.alarm\(\s*"(\w+)"', source))
    registry = discover()
    for entry in registry:
        ids |= {f"{pascal(entry.name)}Errors", f"{pascal(entry.name)}Throttles"}
    for _, trigger in registry.queues:
        ids.add(f"{pascal(trigger.queue)}DeadLetters")
    for entry, _ in registry.routes:
        ids.add(f"RateLimited{pascal(entry.service)}")
    ids |= {f"RedisMemory{n:03d}" for n in (1, 2)}
    return ids


def _section(text: str, title: str) -> str:
    start = text.index(title) + len(title)
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else None]


def _commands(text: str) -> list[str]:
    """The shell lines of the page's code blocks, and its inline `make ...` / `aws ...`."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        lines += [line.strip() for line in block.splitlines() if line.strip()]
    lines += re.findall(r"`((?:STAGE=\w+ )?(?:make|aws|python -m ops) [^`]+)`", text)
    return lines


def _makefile_targets() -> set[str]:
    makefile = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))


def _ops_verbs() -> set[str]:
    from ops.__main__ import _parser

    parser = _parser()
    (verbs,) = [a for a in parser._actions if a.dest == "verb"]
    return set(verbs.choices)


def _aws_operation(service: str, command: str) -> bool:
    import botocore.session
    from botocore import xform_name

    if (service, command) in AWS_CLI_COMMANDS:
        return True
    session = botocore.session.get_session()
    model = session.get_service_model(CLI_SERVICES.get(service, service))
    operations = {xform_name(name, "-") for name in model.operation_names}
    return command in operations


def _aws_waiter(service: str, waiter: str) -> bool:
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    names = session.get_waiter_model(service).waiter_names
    return waiter in {xform_name(name, "-") for name in names}


def _invocations(line: str) -> list[list[str]]:
    """Each command of a shell line, $(...) substitutions included, as words."""
    parts = re.split(r"\$\(|\)|\||&&|;", line)
    found = []
    for part in parts:
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words = words[1:]  # STAGE=prod make ...
        if words:
            found.append(words)
    return found


def test_every_topic_has_its_page_with_the_five_sections():
    assert {p.stem for p in PAGES} == TOPICS
    index = (RUNBOOKS / "README.md").read_text()
    for page in PAGES:
        text = page.read_text()
        for title in SECTIONS:
            assert title in text, f"{page.name}: no {title}"
        assert f"({page.name})" in index, f"the index does not link {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_the_alarms_a_page_names_exist(page):
    known = _alarm_ids()
    named = re.findall(r"`([A-Z][A-Za-z0-9<>]+)`", _section(page.read_text(), "## Alarm"))
    alarms = [n for n in named if n not in {"ReplicaLag"}]  # an RDS metric, not our alarm
    for name in alarms:
        pattern = re.compile("^" + re.sub(r"<\w+>", r"\\w+", name) + "$")
        assert any(pattern.match(k) for k in known), f"{page.name}: no alarm {name}"


@pytest.mark.parametrize("page", [*PAGES, RUNBOOKS / "README.md"], ids=lambda p: p.stem)
def test_every_command_a_page_quotes_exists(page):
    targets, verbs = _makefile_targets(), _ops_verbs()
    checked = 0
    for line in _commands(page.read_text()):
        for words in _invocations(line):
            if words[0] == "make":
                target = words[1]
                assert target in targets, f"{page.name}: no make target {target!r}"
                checked += 1
            elif words[:3] == ["python", "-m", "ops"]:
                assert words[3] in verbs, f"{page.name}: no ops verb {words[3]!r}"
                checked += 1
            elif words[0] == "aws":
                service, command = words[1], words[2]
                if command == "wait":
                    assert _aws_waiter(service, words[3]), f"{page.name}: aws {service} wait?"
                else:
                    assert _aws_operation(service, command), (
                        f"{page.name}: no aws {service} {command}"
                    )
                checked += 1
    assert checked or page.name == "README.md", f"{page.name} quotes no command"


def test_each_make_target_of_the_runbooks_runs_an_ops_verb_that_exists():
    makefile = (REPO_ROOT / "Makefile").read_text()
    verbs = _ops_verbs()
    for verb in re.findall(r"\$\(OPS\) ([a-z-]+)", makefile):
        assert verb in verbs, verb
    assert {"redrive", "reindex", "trace", "backup", "restore", "dr-drill"} <= verbs


def test_the_checker_refuses_a_command_that_does_not_exist(tmp_path):
    assert not _aws_operation("rds", "restore-everything-please")
    assert "no-such-target" not in _makefile_targets()
    assert "frobnicate" not in _ops_verbs()
    # $(...) and VAR= prefixes are unwrapped
    assert _invocations("STAGE=prod make redrive QUEUE=x") == [["make", "redrive", "QUEUE=x"]]
    assert ["aws", "cloudformation", "describe-stacks", "--stack-name", "s"] in _invocations(
        'X="$(aws cloudformation describe-stacks --stack-name s)"'
    )
