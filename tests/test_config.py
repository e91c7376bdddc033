"""Policies from YAML: loading, deep merge, precise errors, the process-wide set, @policy(name)."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

import resilience
from resilience import (
    Backoff,
    Category,
    ConfigError,
    Policy,
    PolicySet,
    RedisStorage,
    Retry,
    configure,
    load_policies,
)
from resilience import config as config_module
from resilience.classify import default_classifier, qualified_name
from resilience.testing import no_wait

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Line numbers matter: the error tests below name them.
BASE = """\
version: 1
defaults:
  retry:
    attempts: 3
    backoff: {initial: 0.2, maximum: 20, jitter: full}
policies:
  iot-publish:
    retry: {attempts: 4}
    queue: {action: retry, attempts: 10}
  greengrass-discovery:
    retry:
      attempts: 5
      deadline: 60
    breaker: {fail_max: 5, reset_timeout: 30}
"""


class Flaky(Exception):
    """Classified retryable by the test files' classify rules."""


@pytest.fixture(autouse=True)
def _reset_configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(config_module.ENV_VAR, raising=False)
    config_module.reset()
    yield
    config_module.reset()


@pytest.fixture(name="write")
def _write(tmp_path: Path) -> Callable[..., Path]:
    """Write a policy file into tmp_path (as policies.yaml unless named) and return its path."""

    def write(text: str, name: str = "policies.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(name="examples")
def _examples(monkeypatch: pytest.MonkeyPatch) -> Path:
    """examples/ on sys.path, so `myapp.fallbacks:...` imports."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return EXAMPLES


def error_of(source: str | Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_policies(source)
    return caught.value


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --- loading -------------------------------------------------------------------------------


def test_a_file_loads_into_policies() -> None:
    policies = load_policies(BASE)
    assert isinstance(policies, PolicySet)
    assert list(policies) == ["iot-publish", "greengrass-discovery"]
    publish = policies["iot-publish"]
    assert isinstance(publish, Policy)
    assert publish.name == "iot-publish"
    assert publish.retry == Retry(
        attempts=4, backoff=Backoff(initial=0.2, maximum=20.0, jitter="full")
    )
    assert publish.queue is not None
    assert publish.queue.action == "retry"
    assert publish.queue.attempts == 10
    assert publish.queue.backoff == Backoff(initial=0.5, maximum=5.0, jitter="equal")
    assert publish.breaker is None
    discovery = policies["greengrass-discovery"]
    assert discovery.retry is not None
    assert discovery.retry.deadline == 60.0
    assert discovery.breaker is not None
    assert (discovery.breaker.fail_max, discovery.breaker.reset_timeout) == (5, 30.0)


def test_path_file_name_and_text_all_load(write: Callable[..., Path]) -> None:
    path = write(BASE)
    from_path = load_policies(path)
    from_name = load_policies(str(path))
    from_text = load_policies(BASE)
    assert from_path.source == str(path)
    assert from_name.source == str(path)
    assert from_text.source == "<string>"
    assert dict(from_path) == dict(from_name) == dict(from_text)


def test_a_policy_set_is_a_read_only_mapping() -> None:
    policies = load_policies(BASE)
    assert isinstance(policies, Mapping)
    assert len(policies) == 2
    assert "iot-publish" in policies
    assert policies.get("nope") is None
    with pytest.raises(KeyError):
        policies["nope"]
    with pytest.raises(TypeError):
        policies["x"] = policies["iot-publish"]  # type: ignore[index]
    assert "iot-publish" in repr(policies)


def test_a_policy_set_can_be_built_in_python() -> None:
    policy = Policy("p", retry=Retry(attempts=2))
    policies = PolicySet({"p": policy})
    assert policies["p"] is policy
    assert policies.classifier is default_classifier()
    with pytest.raises(ValueError, match="'q' must map to the Policy of that name"):
        PolicySet({"q": policy})


def test_defaults_are_deep_merged_under_each_policy() -> None:
    text = edit("    retry: {attempts: 4}\n", "    retry: {attempts: 4, backoff: {maximum: 5}}\n")
    retry = load_policies(text)["iot-publish"].retry
    assert retry is not None
    assert retry.attempts == 4
    # initial and jitter come from the defaults, maximum from the policy.
    assert retry.backoff == Backoff(initial=0.2, maximum=5.0, jitter="full")


def test_a_policy_without_a_section_takes_the_default_one() -> None:
    text = BASE + "  plain:\n  empty: {}\n"
    policies = load_policies(text)
    for name in ("plain", "empty"):
        retry = policies[name].retry
        assert retry is not None
        assert retry.attempts == 3
        assert retry.backoff.initial == 0.2
        assert policies[name].breaker is None


def test_null_cancels_a_default_section_or_key() -> None:
    text = BASE + "  once:\n    retry: null\n  no-deadline:\n    retry: {deadline: ~}\n"
    policies = load_policies(text)
    assert policies["once"].retry is None
    retry = policies["no-deadline"].retry
    assert retry is not None
    assert retry.deadline is None
    assert retry.attempts == 3


def test_null_means_not_set_in_the_defaults_too() -> None:
    text = edit("    attempts: 3\n", "    attempts: null\n    deadline:\n")
    policies = load_policies(text + "  plain: {}\n")
    retry = policies["plain"].retry
    assert retry is not None
    assert (retry.attempts, retry.deadline) == (3, None)  # Retry's own defaults


def test_a_partial_queue_backoff_keeps_the_queue_defaults() -> None:
    text = edit("queue: {action: retry, attempts: 10}", "queue: {backoff: {initial: 1}}")
    queue = load_policies(text)["iot-publish"].queue
    assert queue is not None
    assert queue.action == "fallback"
    assert queue.backoff == Backoff(initial=1.0, maximum=5.0, jitter="equal")


def test_yaml_anchors_and_merge_keys_work() -> None:
    text = """\
version: 1
common: &common
  attempts: 7
policies:
  a:
    retry:
      <<: *common
      deadline: 9
"""
    # `common` is not a known top-level key; anchors live inside known keys instead.
    assert "unknown key 'common'" in str(error_of(text))
    text = """\
version: 1
policies:
  a:
    retry: &common {attempts: 7, backoff: {initial: 1, maximum: 2}}
  b:
    retry:
      <<: *common
      deadline: 9
"""
    retry = load_policies(text)["b"].retry
    assert retry is not None
    assert (retry.attempts, retry.deadline, retry.backoff.maximum) == (7, 9.0, 2.0)


def test_yes_no_on_off_are_strings_as_in_yaml_1_2(examples: Path) -> None:
    text = """\
version: 1
policies:
  a:
    fallback:
      function: myapp.fallbacks:store_for_later
      on: [queue]
"""
    fallback = load_policies(text)["a"].fallback
    assert fallback is not None
    assert fallback.on == (Category.QUEUE,)  # type: ignore[union-attr]


def test_a_fallback_is_imported_at_load_time(examples: Path) -> None:
    from myapp import fallbacks  # type: ignore[import-not-found]

    text = """\
version: 1
policies:
  a:
    fallback: myapp.fallbacks:connect_direct
  b:
    fallback: {function: "myapp.fallbacks:cached_incidents", on: [retryable, auth]}
"""
    policies = load_policies(text)
    a, b = policies["a"].fallback, policies["b"].fallback
    assert a is not None
    assert b is not None
    assert a.func is fallbacks.connect_direct  # type: ignore[union-attr]
    assert a.on == tuple(Category)  # type: ignore[union-attr]
    assert b.func is fallbacks.cached_incidents  # type: ignore[union-attr]
    assert b.on == (Category.RETRYABLE, Category.AUTH)  # type: ignore[union-attr]


def test_a_policy_fallback_replaces_the_default_one(examples: Path) -> None:
    text = """\
version: 1
defaults:
  fallback: {function: "myapp.fallbacks:cached_incidents", on: [auth]}
policies:
  a: {}
  b:
    fallback: myapp.fallbacks:store_for_later
"""
    policies = load_policies(text)
    a, b = policies["a"].fallback, policies["b"].fallback
    assert a is not None
    assert b is not None
    assert a.on == (Category.AUTH,)  # type: ignore[union-attr]
    assert b.func.__name__ == "store_for_later"  # type: ignore[union-attr]
    assert b.on == tuple(Category)  # type: ignore[union-attr]


def test_classify_rules_make_one_classifier_for_every_policy() -> None:
    text = f"""\
version: 1
classify:
  {qualified_name(Flaky)}: retryable
  botocore.exceptions.ClientError: {{codes: {{MyServiceBusy: retryable}}, statuses: {{418: auth}}}}
policies:
  a: {{}}
  b: {{retry: {{attempts: 2}}}}
"""
    policies = load_policies(text)
    classifier = policies.classifier
    assert policies["a"].classifier is classifier
    assert policies["b"].classifier is classifier
    assert classifier.classify(Flaky()) is Category.RETRYABLE
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]

    busy = ClientError({"Error": {"Code": "MyServiceBusy"}}, "Op")
    assert classifier.classify(busy) is Category.RETRYABLE
    teapot = ClientError({"Error": {}, "ResponseMetadata": {"HTTPStatusCode": 418}}, "Op")
    assert classifier.classify(teapot) is Category.AUTH
    # the built-in catalogs are still there underneath
    assert classifier.classify(TimeoutError()) is Category.RETRYABLE


def test_without_classify_the_default_classifier_is_used() -> None:
    policies = load_policies(BASE)
    assert policies["iot-publish"].classifier is None
    assert policies.classifier is default_classifier()


def test_offline_loading_checks_the_storage_but_keeps_breakers_in_memory() -> None:
    text = BASE + "breaker_storage:\n  redis: {url: 'redis://127.0.0.1:1/0'}\n"
    policies = config_module.load(text, offline=True)
    assert policies.breaker_storage == RedisStorage(url="redis://127.0.0.1:1/0")
    breaker = policies["greengrass-discovery"].breaker
    assert breaker is not None
    assert breaker.storage is None
    bad = BASE + "breaker_storage:\n  redis: {url: 'http://127.0.0.1:1/0'}\n"
    with pytest.raises(ConfigError, match="malformed"):
        config_module.load(bad, offline=True)


def test_a_null_redis_url_is_a_config_error_at_its_key() -> None:
    text = BASE + "breaker_storage:\n  redis: {url: null}\n"
    with pytest.raises(ConfigError, match=r"^breaker_storage\.redis\.url: expected a redis://"):
        load_policies(text)


def test_breaker_storage_applies_to_every_breaker() -> None:
    text = BASE + (
        "breaker_storage:\n"
        "  redis: {url: 'redis://:hunter2@127.0.0.1:1/0', namespace: myapp, timeout: 0.2}\n"
    )
    policies = load_policies(text)
    storage = policies.breaker_storage
    assert storage == RedisStorage(
        url="redis://:hunter2@127.0.0.1:1/0", namespace="myapp", timeout=0.2
    )
    breaker = policies["greengrass-discovery"].breaker
    assert breaker is not None
    assert breaker.storage is storage
    assert "hunter2" not in repr(policies["greengrass-discovery"])


def test_the_example_file_covers_the_five_client_libraries(examples: Path) -> None:
    policies = load_policies(examples / "policies.yaml")
    assert set(policies) == {
        "greengrass-discovery",
        "awsiot-publish",
        "mqtt-publish",
        "aws-api",
        "devops-agent",
        "engineio-connect",
    }
    publish = policies["mqtt-publish"]
    assert publish.queue is not None
    assert publish.queue.action == "retry"
    assert policies["greengrass-discovery"].fallback is not None
    aws = policies["aws-api"].retry
    assert aws is not None
    assert aws.backoff == Backoff(initial=0.2, maximum=20.0, jitter="decorrelated")


# --- errors: every mistake names file, line and key path -----------------------------------


def test_a_wrong_type_names_file_line_path_expected_and_found(write: Callable[..., Path]) -> None:
    path = write(edit("retry: {attempts: 4}", "retry: {attempts: three}"))
    exc = error_of(path)
    assert str(exc) == (
        "policies.iot-publish.retry.attempts: must be an integer >= 1 (got 'three') "
        f"({path}, line 8)"
    )
    assert (exc.path, exc.source, exc.line) == ("policies.iot-publish.retry.attempts", str(path), 8)


def test_yaml_and_python_give_the_same_message() -> None:
    with pytest.raises(ValueError, match=r"^Retry\.attempts ") as python:
        Retry(attempts=0)
    exc = error_of(edit("retry: {attempts: 4}", "retry: {attempts: 0}"))
    assert exc.detail == str(python.value).removeprefix("Retry.attempts ")
    assert str(exc).startswith("policies.iot-publish.retry.attempts: must be >= 1 (got 0)")


@pytest.mark.parametrize(
    ("old", "new", "path", "line", "detail"),
    [
        (
            "fail_max: 5",
            "fail_max: 0",
            "policies.greengrass-discovery.breaker.fail_max",
            14,
            ">= 1 (got 0)",
        ),
        (
            "deadline: 60",
            "deadline: -1",
            "policies.greengrass-discovery.retry.deadline",
            13,
            "> 0 (got -1)",
        ),
        (
            "deadline: 60",
            "deadline: .nan",
            "policies.greengrass-discovery.retry.deadline",
            13,
            "finite",
        ),
        (
            "deadline: 60",
            "deadline: 2024-01-01",
            "policies.greengrass-discovery.retry.deadline",
            13,
            "a number of seconds",
        ),
        (
            "reset_timeout: 30",
            "reset_timeout: '30'",
            "policies.greengrass-discovery.breaker.reset_timeout",
            14,
            "(got '30')",
        ),
        (
            "attempts: 10}",
            "attempts: 2.5}",
            "policies.iot-publish.queue.attempts",
            9,
            "integer >= 1 (got 2.5)",
        ),
        (
            "maximum: 20",
            "maximum: 0.1",
            "defaults.retry.backoff.maximum",
            5,
            "must be >= Backoff.initial",
        ),
    ],
)
def test_wrong_values_are_reported_where_they_stand(
    old: str, new: str, path: str, line: int, detail: str
) -> None:
    exc = error_of(edit(old, new))
    assert exc.path == path
    assert exc.line == line
    assert exc.source == "<string>"
    assert detail in exc.detail


def test_an_error_in_the_defaults_points_at_the_defaults() -> None:
    exc = error_of(edit("    attempts: 3\n", "    attempts: -3\n"))
    assert exc.path == "defaults.retry.attempts"
    assert exc.line == 4


def test_a_default_that_clashes_with_a_policy_value_points_at_the_value() -> None:
    text = edit("      deadline: 60\n", "      deadline: 60\n      backoff: {initial: 30}\n")
    exc = error_of(text)
    assert exc.path == "policies.greengrass-discovery.retry.backoff.maximum"
    assert exc.detail == "must be >= Backoff.initial (got 20.0 < 30.0)"
    assert exc.line == 14  # the nearest line there is: the policy's own backoff


@pytest.mark.parametrize(
    ("old", "new", "path", "line", "detail"),
    [
        (
            "retry: {attempts: 4}",
            "retry: {atempts: 4}",
            "policies.iot-publish.retry.atempts",
            8,
            "unknown key 'atempts'; did you mean 'attempts'? "
            "Allowed keys: attempts, deadline, attempt_timeout, backoff, budget, hints, max_hint",
        ),
        (
            "policies:",
            "polices:",
            "polices",
            6,
            "unknown key 'polices'; did you mean 'policies'? "
            "Allowed keys: version, defaults, breaker_storage, classify, policies",
        ),
        (
            "    breaker: {",
            "    circuit: {",
            "policies.greengrass-discovery.circuit",
            14,
            "unknown key 'circuit'. Allowed keys: retry, breaker, concurrency, rate_limit, hedge, "
            "queue, fallback",
        ),
        (
            "jitter: full}",
            "jiter: full}",
            "defaults.retry.backoff.jiter",
            5,
            "unknown key 'jiter'; did you mean 'jitter'? "
            "Allowed keys: initial, maximum, multiplier, jitter",
        ),
    ],
)
def test_unknown_keys_say_what_was_meant(
    old: str, new: str, path: str, line: int, detail: str
) -> None:
    exc = error_of(edit(old, new))
    assert (exc.path, exc.line, exc.detail) == (path, line, detail)


@pytest.mark.parametrize(
    ("old", "new", "path", "line", "hint"),
    [
        (
            "jitter: full}",
            "jitter: ful}",
            "defaults.retry.backoff.jitter",
            5,
            "did you mean 'full'?",
        ),
        (
            "action: retry",
            "action: retyr",
            "policies.iot-publish.queue.action",
            9,
            "did you mean 'retry'?",
        ),
    ],
)
def test_a_misspelt_choice_gets_a_hint(old: str, new: str, path: str, line: int, hint: str) -> None:
    exc = error_of(edit(old, new))
    assert (exc.path, exc.line) == (path, line)
    assert exc.detail.startswith("must be one of ")
    assert exc.detail.endswith(hint)


@pytest.mark.parametrize(
    ("text", "path", "line", "detail"),
    [
        (
            "version: 2\npolicies: {}\n",
            "version",
            1,
            "unsupported version 2: this release of resilience reads version 1",
        ),
        ("version: '1'\npolicies: {}\n", "version", 1, "expected 1, got '1' (a string)"),
        ("version: 1.0\npolicies: {}\n", "version", 1, "expected 1, got 1.0 (a number)"),
        ("policies: {}\n", "", 1, "missing the required key 'version'"),
        (
            "verison: 1\npolicies: {}\n",
            "verison",
            1,
            "unknown key 'verison'; did you mean 'version'?",
        ),
        ("version: 1\n", "", 1, "missing the required key 'policies'"),
        (
            "version: 1\npolicies: [a, b]\n",
            "policies",
            2,
            "expected a mapping; got ['a', 'b'] (a list)",
        ),
        (
            "version: 1\npolicies:\n  a: 5\n",
            "policies.a",
            3,
            "expected a mapping with the keys retry, breaker, concurrency, rate_limit, hedge, "
            "queue, fallback; got 5 (an integer)",
        ),
        (
            "version: 1\npolicies:\n  a: {retry: [1]}\n",
            "policies.a.retry",
            3,
            "expected a mapping with the keys attempts, deadline, attempt_timeout, backoff, "
            "budget, hints, max_hint; got [1] (a list)",
        ),
        (
            "version: 1\npolicies:\n  7: {}\n",
            "policies.7",
            3,
            "expected a string as the key, got 7 (an integer)",
        ),
        (
            "version: 1\npolicies:\n  '': {}\n",
            "policies.''",
            3,
            "must be a non-empty string (got '')",
        ),
        (
            "- version: 1\n",
            "",
            None,
            "expected a mapping with the keys version, defaults, breaker_storage, classify, "
            "policies; got [{'version': 1}] (a list)",
        ),
        ("# nothing\n", "", None, "got nothing (null)"),
    ],
)
def test_document_level_mistakes(text: str, path: str, line: int | None, detail: str) -> None:
    exc = error_of(text)
    assert (exc.path, exc.line) == (path, line)
    assert detail in exc.detail


def test_missing_keys_are_reported_after_misspelt_ones() -> None:
    exc = error_of("version: 1\npolicy:\n  a: {}\n")
    assert exc.detail.startswith("unknown key 'policy'; did you mean 'policies'?")


def test_a_yaml_syntax_error_names_its_line(write: Callable[..., Path]) -> None:
    path = write(edit("    queue: {action: retry, attempts: 10}\n", "    queue: {action: retry\n"))
    exc = error_of(path)
    assert exc.source == str(path)
    assert exc.line == 10
    assert str(exc).startswith("invalid YAML at column ")
    assert f"({path}, line 10)" in str(exc)


def test_a_duplicate_key_is_an_error() -> None:
    exc = error_of(edit("    retry: {attempts: 4}\n", "    retry: {attempts: 4}\n    retry: {}\n"))
    assert exc.line == 9
    assert "found duplicate key 'retry' (first on line 8)" in str(exc)


@pytest.mark.parametrize(
    "tagged",
    [
        "!!python/object/apply:os.system ['echo pwned']",
        "!!python/object:collections.OrderedDict {}",
        "!!python/name:os.system",
        "!custom 3",
    ],
)
def test_the_safe_loader_refuses_python_tags(tagged: str) -> None:
    exc = error_of(edit("attempts: 10}", f"attempts: {tagged} }}"))
    tag = tagged.split(maxsplit=1)[0]
    assert exc.line == 9
    assert exc.detail == (
        f"the tag {tag} is not allowed: policy files are plain YAML data, "
        "read with the safe loader (remove the tag)"
    )


def test_a_recursive_alias_is_refused() -> None:
    exc = error_of("version: 1\npolicies: &p\n  a: {retry: *p}\n")
    assert "can't be recursive" in exc.detail
    assert exc.line == 3


def test_an_alias_bomb_is_refused() -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    exc = error_of("\n".join(lines) + "\npolicies: {}\n")
    assert "too large" in exc.detail


def test_deep_nesting_is_a_config_error() -> None:
    assert "nests too deeply" in error_of("version: 1\npolicies: " + "[" * 3000 + "\n").detail


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    exc = error_of(tmp_path / "missing.yaml")
    assert exc.source == str(tmp_path / "missing.yaml")
    assert exc.detail == "cannot read the policy file: No such file or directory"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"version: 1\n\xff\xfe\n")
    assert "not UTF-8 text" in error_of(binary).detail


def test_a_source_of_another_type_is_a_type_error() -> None:
    with pytest.raises(
        TypeError, match=r"takes a pathlib\.Path, a file name or YAML text, not bytes"
    ):
        load_policies(b"version: 1\n")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "path", "detail"),
    [
        (
            "myapp.Flaky: retry",
            "classify.myapp.Flaky",
            "expected one of 'retryable', 'auth', 'queue', 'permanent', got 'retry'; "
            "did you mean 'retryable'?",
        ),
        (
            "myapp.Flaky: {codes: {E1: retyable}}",
            "classify.myapp.Flaky.codes.E1",
            "got 'retyable'; did you mean 'retryable'?",
        ),
        (
            "myapp.Flaky: {code: {E1: retryable}}",
            "classify.myapp.Flaky.code",
            "unknown key 'code'; did you mean 'codes'? Allowed keys: codes, statuses",
        ),
        (
            "myapp.Flaky: {statuses: {600: retryable}}",
            "classify.myapp.Flaky.statuses.600",
            "expected an HTTP status (100-599) or a family such as '5xx', got 600",
        ),
        (
            "myapp.Flaky: [retryable]",
            "classify.myapp.Flaky",
            "expected a category or a mapping with 'codes' and/or 'statuses', got list",
        ),
        ("Flaky: retryable", "classify.Flaky", "'Flaky' is not a qualified class name"),
    ],
)
def test_classify_rule_mistakes(rule: str, path: str, detail: str) -> None:
    exc = error_of(f"version: 1\nclassify:\n  {rule}\npolicies: {{}}\n")
    assert (exc.path, exc.line) == (path, 3)
    assert detail in exc.detail


def test_classify_must_be_a_mapping() -> None:
    exc = error_of("version: 1\nclassify: [a.B]\npolicies: {}\n")
    assert (exc.path, exc.line) == ("classify", 2)
    assert "expected a mapping of qualified class name to category" in exc.detail


@pytest.mark.parametrize(
    ("fallback", "path", "detail"),
    [
        (
            "nosuchmodule.sub:handler",
            "policies.a.fallback",
            "cannot import 'nosuchmodule.sub:handler': No module named 'nosuchmodule'",
        ),
        (
            "myapp.fallbacks:connect_drect",
            "policies.a.fallback",
            "myapp.fallbacks has no attribute 'connect_drect'; did you mean 'connect_direct'?",
        ),
        (
            "connect_direct",
            "policies.a.fallback",
            "expected a function as 'module:function', got 'connect_direct' (a string)",
        ),
        (
            "{function: myapp.fallbacks:nope}",
            "policies.a.fallback.function",
            "has no attribute 'nope'",
        ),
        (
            "{function: myapp.fallbacks:connect_direct, on: [auht]}",
            "policies.a.fallback.on",
            "(got 'auht'); did you mean 'auth'?",
        ),
        (
            "{function: myapp.fallbacks:connect_direct, on: []}",
            "policies.a.fallback.on",
            "must name at least one category",
        ),
        (
            "{function: myapp.fallbacks:connect_direct, on: auth}",
            "policies.a.fallback.on",
            "must be a list of categories",
        ),
        (
            "{function: myapp.fallbacks:connect_direct, when: [auth]}",
            "policies.a.fallback.when",
            "unknown key 'when'",
        ),
        ("{on: [auth]}", "policies.a.fallback", "missing the required key 'function'"),
        ("myapp.fallbacks:_OUTBOX", "policies.a.fallback", "must be callable (got [])"),
        (
            "5",
            "policies.a.fallback",
            "expected 'module:function' or a mapping with the keys function, on; "
            "got 5 (an integer)",
        ),
    ],
)
def test_fallback_mistakes(examples: Path, fallback: str, path: str, detail: str) -> None:
    exc = error_of(f"version: 1\npolicies:\n  a:\n    fallback: {fallback}\n")
    assert (exc.path, exc.line) == (path, 4)
    assert detail in exc.detail


def test_a_fallback_module_that_fails_to_import_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_fallbacks.py").write_text("raise RuntimeError('no config here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    exc = error_of("version: 1\npolicies:\n  a:\n    fallback: broken_fallbacks:f\n")
    assert exc.path == "policies.a.fallback"
    assert exc.detail == (
        "importing 'broken_fallbacks' for the fallback failed: RuntimeError: no config here"
    )
    assert isinstance(exc.__cause__, RuntimeError)


@pytest.mark.parametrize(
    ("redis", "path", "detail"),
    [
        ("{}", "breaker_storage.redis", "missing the required key 'url'"),
        ("{url: 5}", "breaker_storage.redis.url", "must be a redis:// URL"),
        ("{url: 'http://:hunter2@h/0'}", "breaker_storage.redis.url", "malformed"),
        (
            "{url: 'redis://h', namespace: ''}",
            "breaker_storage.redis.namespace",
            "non-empty string",
        ),
        ("{url: 'redis://h', timeout: 0}", "breaker_storage.redis.timeout", "must be > 0 (got 0)"),
        ("{url: 'redis://h', db: 0}", "breaker_storage.redis.db", "unknown key 'db'"),
    ],
)
def test_breaker_storage_mistakes(redis: str, path: str, detail: str) -> None:
    exc = error_of(f"version: 1\nbreaker_storage:\n  redis: {redis}\npolicies: {{}}\n")
    assert (exc.path, exc.line) == (path, 3)
    assert detail in exc.detail
    assert "hunter2" not in str(exc)


def test_nothing_is_built_when_a_later_policy_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real_init = Policy.__init__

    def record(self: Policy, name: str, **kwargs: object) -> None:
        built.append(name)
        real_init(self, name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Policy, "__init__", record)
    error_of(edit("fail_max: 5", "fail_max: 0"))
    assert built == ["iot-publish"]  # built, then dropped: no PolicySet came out of it


# --- the process-wide set --------------------------------------------------------------------


def test_configure_sets_the_process_wide_policies(write: Callable[..., Path]) -> None:
    policies = configure(write(BASE))
    assert config_module.configured() is policies
    again = configure(policies)
    assert again is policies


def test_a_failed_configure_keeps_the_previous_set(write: Callable[..., Path]) -> None:
    first = configure(BASE)
    with pytest.raises(ConfigError):
        configure(write(edit("fail_max: 5", "fail_max: none")))
    assert config_module.configured() is first


def test_nothing_configured_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"no policies are configured: call resilience\.configure"
    ):
        config_module.configured()


def test_resilience_config_names_the_file(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(BASE)
    monkeypatch.setenv("RESILIENCE_CONFIG", str(path))
    policies = config_module.configured()
    assert policies.source == str(path)
    assert config_module.configured() is policies  # loaded once
    configure(BASE)  # configure() wins over the environment
    assert config_module.configured().source == "<string>"


def test_a_broken_resilience_config_file_is_reported(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write("version: 3\npolicies: {}\n")
    monkeypatch.setenv("RESILIENCE_CONFIG", str(path))
    with pytest.raises(ConfigError, match=r"unsupported version 3") as caught:
        config_module.configured()
    assert caught.value.source == str(path)


# --- @resilience.policy(name) ----------------------------------------------------------------


def test_the_policy_is_looked_up_at_the_first_call_not_before() -> None:
    calls: list[int] = []

    @resilience.policy("iot-publish")
    def publish(n: int) -> int:
        calls.append(n)
        return n * 2

    assert calls == []  # decorating needs no configuration
    with pytest.raises(ConfigError, match="no policies are configured"):
        publish(1)
    configure(BASE)
    assert publish(2) == 4
    assert calls == [2]


def test_the_decorated_function_keeps_its_name_doc_and_signature() -> None:
    def publish(topic: str, payload: bytes, *, qos: int = 1) -> bool:
        """Publish one message."""
        return True

    wrapped = resilience.policy("iot-publish")(publish)
    assert wrapped.__name__ == "publish"
    assert wrapped.__doc__ == "Publish one message."
    assert inspect.signature(wrapped) == inspect.signature(publish)
    assert wrapped.__wrapped__ is publish  # type: ignore[attr-defined]


def test_an_unknown_name_fails_at_the_first_call_with_a_hint() -> None:
    configure(BASE)

    @resilience.policy("iot-publsh")
    def publish() -> None:
        raise AssertionError("never runs")

    with pytest.raises(ConfigError) as caught:
        publish()
    assert str(caught.value) == (
        "no policy named 'iot-publsh'; did you mean 'iot-publish'? "
        "Known policies: greengrass-discovery, iot-publish (<string>)"
    )


def test_policy_needs_a_name() -> None:
    def publish() -> None:
        pass

    with pytest.raises(TypeError, match=r'write @resilience\.policy\("name"\)'):
        resilience.policy(publish)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        resilience.policy("")


def test_the_configured_policy_retries_and_a_new_configure_takes_over() -> None:
    configure(BASE)
    calls: list[int] = []

    @resilience.policy("iot-publish")
    def publish() -> int:
        calls.append(1)
        if len(calls) < 10:
            raise TimeoutError("broker slow")
        return len(calls)

    with no_wait(), pytest.raises(TimeoutError):
        publish()
    assert len(calls) == 4  # iot-publish: 4 attempts
    configure(edit("retry: {attempts: 4}", "retry: {attempts: 6}"))
    calls.clear()
    with no_wait(), pytest.raises(TimeoutError):
        publish()
    assert len(calls) == 6


async def test_async_functions_are_decorated_too() -> None:
    calls: list[int] = []

    @resilience.policy("greengrass-discovery")
    async def discover(thing: str) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("discovery timed out")
        return f"found {thing}"

    assert inspect.iscoroutinefunction(discover)
    configure(BASE)
    with no_wait():
        assert await discover("sensor") == "found sensor"
    assert len(calls) == 3


def test_the_public_names_are_exported() -> None:
    for name in ("ConfigError", "PolicySet", "configure", "load_policies", "policy"):
        assert name in resilience.__all__
    assert resilience.policy is config_module.policy


def test_load_policies_and_check_import_fallbacks_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from resilience.cli import main

    service = tmp_path / "svc"
    (service / "shop").mkdir(parents=True)
    (service / "shop" / "__init__.py").write_text("")
    (service / "shop" / "fallbacks.py").write_text("def cached() -> str:\n    return 'cached'\n")
    path = service / "policies.yaml"
    path.write_text("version: 1\npolicies:\n  orders:\n    fallback: shop.fallbacks:cached\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(service))])
    assert main(["check", str(path)]) == 0
    assert "shop.fallbacks:cached" in capsys.readouterr().out
    monkeypatch.delitem(sys.modules, "shop.fallbacks")
    monkeypatch.delitem(sys.modules, "shop")
    policies = load_policies(path)  # the same function: beside the file

    def refused() -> None:
        raise ConnectionRefusedError

    assert policies["orders"].call(refused) == "cached"
    assert str(service) not in sys.path  # only while importing

    path.write_text("version: 1\npolicies:\n  orders:\n    fallback: nowhere.fallbacks:x\n")
    assert main(["check", str(path)]) == 1
    with pytest.raises(ConfigError, match="No module named 'nowhere'"):
        load_policies(path)
