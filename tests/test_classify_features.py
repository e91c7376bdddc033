"""Classification features: how rules name classes, cause chains, hints, assess, the bounded
cache, botocore's modelled retryable trait, third-party catalogs, and the command line."""

from __future__ import annotations

import email.utils
import functools
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from resilience import Category, Classifier, classify, explain
from resilience.catalogs._read import retry_after
from resilience.classify import cache, default_classifier, qualified_name, rule_warnings
from resilience.cli import main

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT


# --- rules name classes as users write them -------------------------------------------------


def test_a_rule_may_name_a_class_by_the_class_object() -> None:
    class Busy(Exception):
        pass

    classifier = Classifier(rules={Busy: "retryable"})
    assert classifier.classify(Busy()) is R
    assert list(classifier.rules) == [qualified_name(Busy)]
    assert "<locals>" in qualified_name(Busy)


def test_a_rule_may_name_a_local_class_by_its_qualified_name() -> None:
    class Local(Exception):
        pass

    name = f"{__name__}.test_a_rule_may_name_a_local_class_by_its_qualified_name.<locals>.Local"
    assert qualified_name(Local) == name
    assert Classifier(rules={name: "queue"}).classify(Local()) is Q


def test_a_rule_may_name_a_class_by_a_public_alias() -> None:
    aiohttp = pytest.importorskip("aiohttp")
    exc = aiohttp.ClientResponseError(None, (), status=404)  # type: ignore[arg-type]
    assert qualified_name(type(exc)) == "aiohttp.client_exceptions.ClientResponseError"
    classifier = Classifier(rules={"aiohttp.ClientResponseError": {"statuses": {404: "retryable"}}})
    verdict = classifier.explain(exc)
    assert (verdict.category, verdict.catalog) == (R, "user")


def test_an_alias_resolves_once_its_module_is_imported(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from resilience import Classifier
        classifier = Classifier(rules={"lazyerrors.Flaky": "retryable"})
        assert "lazyerrors" not in sys.modules  # building the classifier imported nothing
        import lazyerrors
        assert classifier.classify(lazyerrors.Flaky()) == "retryable"
        """
    )
    (tmp_path / "lazyerrors").mkdir()
    (tmp_path / "lazyerrors" / "__init__.py").write_text("from lazyerrors._impl import Flaky\n")
    (tmp_path / "lazyerrors" / "_impl.py").write_text("class Flaky(Exception):\n    pass\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_rule_warnings_name_a_class_its_module_lacks() -> None:
    lines = rule_warnings(
        {
            "botocore.exceptions.ReadTimeoutError": "retryable",
            "botocore.exceptions.ReadTimeoutErorr": "retryable",
            "json.dumps": "retryable",
            "not_installed_anywhere.Error": "retryable",
            "tests.x.test.<locals>.Err": "auth",
        }
    )
    assert len(lines) == 2, lines
    assert "module botocore.exceptions has no class ReadTimeoutErorr" in lines[0]
    assert "did you mean botocore.exceptions.ReadTimeoutError?" in lines[0]
    assert "json.dumps is a function, not an exception class" in lines[1]


def test_check_warns_about_a_rule_that_never_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(
        "version: 1\nclassify:\n  botocore.exceptions.Throttled: retryable\npolicies:\n  p: {}\n"
    )
    assert main(["check", str(policy_file)]) == 0
    captured = capsys.readouterr()
    assert "1 classify rule" in captured.out
    assert captured.err.count("\n") == 1
    assert "warning: classify.botocore.exceptions.Throttled: module botocore.exceptions" in (
        captured.err
    )


# --- cause chains, assess ----------------------------------------------------------------------


def test_a_wrapper_defers_to_the_most_specific_verdict_along_its_chain() -> None:
    import ssl
    import urllib.error

    try:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as inner:
            raise urllib.error.URLError(inner) from None  # suppressed: the reader uses .reason
    except urllib.error.URLError as exc:
        verdict = explain(exc)
    assert (verdict.category, verdict.rule) == (P, "ssl.SSLCertVerificationError")
    assert verdict.via == ("urllib.error.URLError", "ssl.SSLCertVerificationError")
    assert verdict.chain == "urllib.error.URLError -> ssl.SSLCertVerificationError"


def test_a_suppressed_context_is_not_followed() -> None:
    def fail() -> None:
        try:
            raise ConnectionRefusedError
        except ConnectionRefusedError:
            raise OSError("no errno") from None

    with pytest.raises(OSError, match="no errno") as caught:
        fail()
    assert explain(caught.value).rule == "builtins.OSError"
    assert explain(caught.value).via == ()


def test_an_unknown_exception_does_not_look_at_its_cause() -> None:
    # A bug in an error handler is a bug, whatever it was handling.
    def fail() -> None:
        try:
            raise TimeoutError
        except TimeoutError as exc:
            raise KeyError("oops") from exc

    with pytest.raises(KeyError) as caught:
        fail()
    assert classify(caught.value) is P
    assert default_classifier().assess(caught.value) == (P, None, False)


def test_a_cycle_in_the_chain_ends() -> None:
    outer, inner = OSError("outer"), OSError("inner")
    outer.__context__, inner.__context__ = inner, outer
    assert classify(outer) is P


def test_assess_says_whether_a_rule_decided() -> None:
    classifier = default_classifier()
    assert classifier.assess(TimeoutError()) == (R, None, True)
    assert classifier.assess(ValueError()) == (P, None, False)
    assert Classifier(default="retryable").assess(ValueError()) == (R, None, False)


# --- hints ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), (" 120 ", 120.0), ("1.5", 1.5), ("-3", None), ("soon", None), ("", None)],
)
def test_retry_after_in_seconds(value: str, seconds: float | None) -> None:
    assert retry_after(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = time.time()
    later = email.utils.formatdate(now + 90, usegmt=True)
    assert retry_after(later, now=lambda: now) == pytest.approx(90, abs=1)
    earlier = email.utils.formatdate(now - 90, usegmt=True)
    assert retry_after(earlier, now=lambda: now) == 0.0


def test_botocore_retry_after_header_is_the_hint() -> None:
    bce = pytest.importorskip("botocore.exceptions")
    exc = bce.ClientError(
        {
            "Error": {"Code": "SlowDown"},
            "ResponseMetadata": {"HTTPStatusCode": 503, "HTTPHeaders": {"retry-after": "4"}},
        },
        "PutObject",
    )
    assert explain(exc).hint == 4.0
    assert default_classifier().assess(exc) == (R, 4.0, True)


# --- botocore: the retryable trait, event streams, statuses --------------------------------------


@functools.cache
def _modelled() -> list[tuple[str, str, str, bool]]:
    """(service, operation, code, throttling) for the errors botocore's models mark
    retryable, read through botocore's own service models: every eighth service and a few
    that use the trait (loading all of them takes botocore about ten seconds)."""
    botocore_session = pytest.importorskip("botocore.session")
    session = botocore_session.get_session()
    available = sorted(session.get_available_services())
    known = {"dynamodb", "bedrock-runtime", "datazone", "deadline", "lakeformation", "cleanrooms"}
    found = []
    for service in sorted(set(available[::8]) | (known & set(available))):
        model = session.get_service_model(service)
        for operation in model.operation_names:
            for shape in model.operation_model(operation).error_shapes:
                trait = shape.metadata.get("retryable")
                if trait is not None:
                    code = shape.metadata.get("error", {}).get("code") or shape.name
                    found.append((service, operation, code, bool(trait.get("throttling"))))
    return found


def test_every_error_botocores_models_mark_retryable_is_retryable() -> None:
    bce = pytest.importorskip("botocore.exceptions")
    modelled = _modelled()
    assert len(modelled) > 20
    classifier = Classifier(catalogs=["botocore"])
    wrong = []
    for service, operation, code, _ in modelled:
        exc = bce.ClientError(
            {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation
        )
        if classifier.classify(exc) is not R and code not in _DELIBERATE:
            wrong.append((service, operation, code, explain(exc).rule))
    assert not wrong, wrong[:20]


# Marked retryable by a service model, but refused credentials are never retried here.
_DELIBERATE = {"AccessDeniedException", "InvalidTokenException"}


def test_the_trait_is_per_operation_as_in_botocores_standard_mode() -> None:
    bce = pytest.importorskip("botocore.exceptions")
    operation, code = next(
        (op, code) for _, op, code, _ in _modelled() if code == "RetryableConflictException"
    )
    marked = bce.ClientError({"Error": {"Code": code}}, operation)
    verdict = explain(marked)
    assert (verdict.category, verdict.rule) == (
        R,
        f"{qualified_name(bce.ClientError)} code=retryable-trait",
    )
    elsewhere = bce.ClientError({"Error": {"Code": code}}, "SomeOtherOperation")
    assert classify(elsewhere) is P


def test_event_stream_codes_match_whatever_the_case_of_their_first_letter() -> None:
    bce = pytest.importorskip("botocore.exceptions")
    for code in ("throttlingException", "serviceUnavailableException", "internalServerException"):
        exc = bce.EventStreamError({"Error": {"Code": code, "Message": "m"}}, "ConverseStream")
        assert classify(exc) is R, code
    assert classify(bce.EventStreamError({"Error": {"Code": "validationException"}}, "X")) is P


@pytest.mark.parametrize(("status", "category"), [(505, P), (511, A), (503, R), (501, P)])
def test_botocore_http_statuses(status: int, category: Category) -> None:
    bce = pytest.importorskip("botocore.exceptions")
    exc = bce.ClientError(
        {"Error": {"Code": "Unknown"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )
    assert classify(exc) is category


# --- the bounded cache ---------------------------------------------------------------------------


def test_classes_made_at_run_time_keep_the_cache_bounded() -> None:
    classifier = Classifier(catalogs=["builtins"])
    for index in range(cache.SIZE * 3):
        kind = type(f"Made{index}", (ConnectionError if index % 2 else ValueError,), {})
        assert classifier.classify(kind()) is (R if index % 2 else P)
    assert len(classifier._cache) <= cache.SIZE
    assert classifier.classify(TimeoutError()) is R


# --- third-party catalogs ------------------------------------------------------------------------


def _plugin(root: Path) -> Path:
    """A package that registers a catalog in the resilience.catalogs entry point group."""
    package = root / "acme_catalog"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from resilience.catalogs import Catalog, by_class
            from resilience.categories import Category

            class AcmeBusy(Exception):
                pass

            CATALOG = Catalog(
                "acme",
                "the Acme client",
                (by_class("acme_catalog.AcmeBusy", Category.RETRYABLE, "Acme is busy"),),
            )
            """
        )
    )
    info = root / "acme_catalog-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-catalog\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[resilience.catalogs]\nacme = acme_catalog\n")
    return root


def test_an_installed_catalog_is_picked_up(tmp_path: Path) -> None:
    root = _plugin(tmp_path)
    code = textwrap.dedent(
        """
        import json, sys
        from resilience import classify, explain
        from resilience.catalogs import installed
        from acme_catalog import AcmeBusy
        verdict = explain(AcmeBusy())
        print(json.dumps([[c.name for c in installed()], classify(AcmeBusy()), verdict.catalog]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=root
    )
    assert json.loads(done.stdout) == [["acme"], "retryable", "acme"]
    listed = subprocess.run(
        [sys.executable, "-m", "resilience", "catalog", "acme"],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert "acme_catalog.AcmeBusy" in listed.stdout
    assert "Acme is busy" in listed.stdout


def test_a_broken_catalog_is_left_out_and_reported(tmp_path: Path) -> None:
    info = tmp_path / "broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[resilience.catalogs]\nbroken = no_such_module\n")
    done = subprocess.run(
        [sys.executable, "-m", "resilience", "catalog", "builtins"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0
    assert "catalog left out: entry point 'broken'" in done.stderr
    assert "builtins.TimeoutError" in done.stdout


# --- the command line -------------------------------------------------------------------------


def test_explain_prints_the_chain(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("requests")
    args = [
        "explain",
        "requests.exceptions.ConnectionError",
        "urllib3.exceptions.NameResolutionError",
        "socket.gaierror",
        "--code",
        "EAI_NONAME",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "category: permanent" in out
    assert "rule:     socket.gaierror code=EAI_NONAME" in out
    assert (
        "via:      requests.exceptions.ConnectionError -> urllib3.exceptions.NameResolutionError"
        " -> socket.gaierror"
    ) in out


def test_explain_a_wrapper_alone_gives_its_own_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "explain",
                "aiomqtt.exceptions.MqttError",
                "aiomqtt.exceptions.MqttCodeError",
                "--code",
                "135",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "category: auth" in out
    assert main(["explain", "aiomqtt.exceptions.MqttError"]) == 0
    assert "category: retryable" in capsys.readouterr().out


def test_the_classify_benchmark_runs_and_keeps_the_cache_bound() -> None:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "classify.py"
    spec = importlib.util.spec_from_file_location("_bench_classify", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runs = module.measure(1, 10)
    assert set(module.TARGETS) | {module.BASELINE} == set(runs)
    cached, held, _ = module.cache_bound(cache.SIZE + 500)
    assert cached <= cache.SIZE
    assert held > 0
