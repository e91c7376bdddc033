"""The classifier's own rules: MRO walk, user rules first, codes before statuses, caching."""

from __future__ import annotations

import errno
import socket
import ssl
import urllib.error
from email.message import Message

import pytest

from resilience import Category, Classifier, Verdict, classify, explain
from resilience.classify import qualified_name

from .helpers import Flaky


class Base(Exception):
    pass


class Child(Base):
    pass


class Coded(Exception):
    def __init__(self, code: str, status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status_code = status


def http_error(status: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://127.0.0.1/", status, "status", Message(), None)


def test_unknown_exceptions_get_the_default() -> None:
    assert classify(ValueError()) is Category.PERMANENT
    assert explain(ValueError()) == Verdict(Category.PERMANENT, "default", None, "no rule matches")
    assert Classifier(default="retryable").classify(ValueError()) is Category.RETRYABLE


@pytest.mark.parametrize(
    ("exc", "category", "rule"),
    [
        (TimeoutError(), Category.RETRYABLE, "builtins.TimeoutError"),
        (ConnectionRefusedError(), Category.RETRYABLE, "builtins.ConnectionRefusedError"),
        (OSError(errno.ECONNRESET, "reset"), Category.RETRYABLE, "builtins.ConnectionResetError"),
        (OSError(errno.ENETUNREACH, "x"), Category.RETRYABLE, "builtins.OSError code=ENETUNREACH"),
        (
            OSError(errno.EHOSTUNREACH, "x"),
            Category.RETRYABLE,
            "builtins.OSError code=EHOSTUNREACH",
        ),
        (PermissionError(errno.EACCES, "x"), Category.PERMANENT, "builtins.OSError code=EACCES"),
        (OSError("no errno"), Category.PERMANENT, "builtins.OSError"),
        (
            socket.gaierror(socket.EAI_AGAIN, "x"),
            Category.RETRYABLE,
            "socket.gaierror code=EAI_AGAIN",
        ),
        (
            socket.gaierror(socket.EAI_NONAME, "x"),
            Category.PERMANENT,
            "socket.gaierror code=EAI_NONAME",
        ),
        (ssl.SSLCertVerificationError(), Category.PERMANENT, "ssl.SSLCertVerificationError"),
        (ssl.SSLEOFError(), Category.RETRYABLE, "ssl.SSLEOFError"),
        (http_error(503), Category.RETRYABLE, "urllib.error.HTTPError status=5xx"),
        (http_error(501), Category.PERMANENT, "urllib.error.HTTPError status=501"),
        (http_error(429), Category.RETRYABLE, "urllib.error.HTTPError status=429"),
        (http_error(401), Category.AUTH, "urllib.error.HTTPError status=401"),
        (http_error(404), Category.PERMANENT, "urllib.error.HTTPError status=4xx"),
    ],
)
def test_python_exceptions(exc: BaseException, category: Category, rule: str) -> None:
    verdict = explain(exc)
    assert (verdict.category, verdict.rule, verdict.catalog) == (category, rule, "builtins")
    assert verdict.reason
    assert classify(exc) is category


def test_user_rules_walk_the_mro_and_the_most_specific_class_wins() -> None:
    classifier = Classifier(rules={qualified_name(Base): "auth", qualified_name(Child): "queue"})
    assert classifier.classify(Base()) is Category.AUTH
    assert classifier.classify(Child()) is Category.QUEUE
    only_base = Classifier(rules={qualified_name(Base): "retryable"})
    assert only_base.explain(Child()).rule == qualified_name(Base)


def test_user_rules_come_before_every_catalog_along_the_whole_mro() -> None:
    # ConnectionResetError is in the builtins catalog; a user rule on its base still wins.
    classifier = Classifier(rules={"builtins.OSError": "permanent"})
    verdict = classifier.explain(ConnectionResetError())
    assert (verdict.category, verdict.catalog) == (Category.PERMANENT, "user")


def test_code_rules_come_before_status_rules() -> None:
    name = qualified_name(Coded)
    classifier = Classifier(
        rules={
            name: {"codes": {"Busy": "retryable"}, "statuses": {403: "auth", "5xx": "retryable"}}
        }
    )
    assert classifier.classify(Coded("Busy", 403)) is Category.RETRYABLE
    assert classifier.classify(Coded("Other", 403)) is Category.AUTH
    assert classifier.classify(Coded("Other", 502)) is Category.RETRYABLE
    assert classifier.explain(Coded("Other", 502)).rule == f"{name} status=5xx"
    assert classifier.classify(Coded("Other", 404)) is Category.PERMANENT  # falls to default


def test_extend_returns_a_new_classifier() -> None:
    base = Classifier(catalogs=["builtins"])
    extended = base.extend({qualified_name(Flaky): "retryable"})
    assert extended is not base
    assert base.classify(Flaky()) is Category.PERMANENT
    assert extended.classify(Flaky()) is Category.RETRYABLE
    assert extended.rules == {qualified_name(Flaky): "retryable"}


def test_results_are_cached_per_type_not_per_instance() -> None:
    classifier = Classifier(catalogs=["builtins"])
    for _ in range(3):
        assert classifier.classify(TimeoutError()) is Category.RETRYABLE
    assert classifier.classify(OSError(errno.ECONNREFUSED, "x")) is Category.RETRYABLE
    assert classifier.classify(OSError(errno.ENOENT, "x")) is Category.PERMANENT


@pytest.mark.parametrize(
    ("rules", "error", "text"),
    [
        ({"NotQualified": "retryable"}, ValueError, "'NotQualified' is not a qualified class name"),
        ({"a.B": "sometimes"}, ValueError, "rules.a.B: expected one of 'retryable'"),
        ({"a.B": {"codez": {}}}, ValueError, "expected the keys 'codes' and/or 'statuses'"),
        ({"a.B": {"statuses": {700: "auth"}}}, ValueError, "expected an HTTP status"),
        ({"a.B": {"codes": {"X": "nope"}}}, ValueError, "rules.a.B.codes.X"),
        ({"a.B": 3}, TypeError, "expected a category or a mapping"),
    ],
)
def test_bad_rules_say_which_rule_is_wrong(rules: dict, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        Classifier(rules=rules)


def test_catalogs_by_name_and_bad_names() -> None:
    assert [c.name for c in Classifier(catalogs=["builtins"]).catalogs] == ["builtins"]
    with pytest.raises(ValueError, match="no catalog 'nope'"):
        Classifier(catalogs=["nope"])
    with pytest.raises(TypeError, match="a list of catalogs"):
        Classifier(catalogs="builtins")


def test_explain_name_for_the_command_line() -> None:
    classifier = Classifier(catalogs=["builtins"])
    mro = ["builtins.ConnectionRefusedError", "builtins.ConnectionError", "builtins.OSError"]
    verdict = classifier.explain_name(mro)
    assert verdict is not None
    assert verdict.category is Category.RETRYABLE
    assert classifier.explain_name(["builtins.OSError"], code="ENOENT").rule.endswith("ENOENT")
    by_number = classifier.explain_name(["builtins.OSError"], code=str(errno.ECONNREFUSED))
    assert by_number is not None
    assert by_number.rule == "builtins.OSError code=ECONNREFUSED"
    assert classifier.explain_name(["nobody.Knows"]) is None
