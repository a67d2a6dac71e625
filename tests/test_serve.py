"""scamclf serve: the real server in a subprocess on a free loopback port, called over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

SCAM = "this is inspector tan from bukit aman, your ic was used for money laundering, transfer your savings to a safe account"
KEY = "correct-horse-battery-staple"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(scamclf_exe, model_path, tmp_path, *extra, env=None):
    port = _free_port()
    log = tmp_path / f"server-{port}.log"
    process = subprocess.Popen(
        [scamclf_exe, "serve", "--model-path", str(model_path), "--port", str(port), *map(str, extra)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base, log
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("server did not start in 60 s")


@pytest.fixture(scope="module")
def server(scamclf_exe, model_path, tmp_path_factory):
    process, base, log = _start(scamclf_exe, model_path, tmp_path_factory.mktemp("serve"), "--max-texts", "5")
    yield base, log
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def keyed(scamclf_exe, model_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("keyed")
    key_file = folder / "key.txt"
    key_file.write_text(KEY + "\n")
    process, base, _ = _start(scamclf_exe, model_path, folder, "--api-key-file", key_file)
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_predict_matches_the_cli(server, scamclf_exe, model_path):
    base, _ = server
    answer = httpx.post(f"{base}/predict", json={"text": SCAM}).json()
    cli = subprocess.run(
        [scamclf_exe, "predict", SCAM, "--json", "--model-path", str(model_path)], capture_output=True, text=True
    )
    import json

    assert answer == json.loads(cli.stdout)
    assert answer["verdict"] in ("scam", "suspicious") and answer["evidence"]


def test_score_texts_and_records_keep_order_and_ids(server):
    base, _ = server
    texts = [SCAM, "hi mum see you at dinner", ""]
    results = httpx.post(f"{base}/score", json={"texts": texts}).json()["results"]
    assert [r["note"] for r in results] == [None, None, "empty"]
    singles = [httpx.post(f"{base}/predict", json={"text": t}).json() for t in texts[:2]]
    assert results[:2] == singles
    records = httpx.post(f"{base}/score", json={"records": [{"id": "b", "text": "hi"}, {"id": 7, "text": SCAM}]})
    assert [r["id"] for r in records.json()["results"]] == ["b", 7]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/predict", {"text": 5}, 422, "text"),
        ("/predict", {}, 422, "text"),
        ("/score", {"texts": "not a list"}, 422, "texts"),
        ("/score", {"texts": ["a"], "records": []}, 422, None),
        ("/score", {"texts": ["a"] * 6}, 413, None),
    ],
)
def test_bad_requests(server, path, body, status, field):
    base, _ = server
    response = httpx.post(f"{base}{path}", json=body)
    assert response.status_code == status
    if field:
        assert field in str(response.json()["detail"])


@pytest.mark.parametrize("path", ["/predict", "/score/csv"])
def test_body_over_the_limit_is_413_with_or_without_a_length(server, path):
    base, _ = server
    body = b'{"text": "' + b"a" * 1_100_000 + b'"}'
    assert httpx.post(f"{base}{path}", content=body).status_code == 413

    def chunks():  # no Content-Length: the limit is counted while the body streams in
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    assert httpx.post(f"{base}{path}", content=chunks()).status_code == 413


def test_health_model_docs_and_page(server):
    base, _ = server
    model = httpx.get(f"{base}/model").json()
    assert model["payload_sha256"] and 0 < model["threshold"] < 1 and model["versions"]["scamclf"]
    assert "/predict" in httpx.get(f"{base}/openapi.json").json()["paths"]
    assert httpx.get(f"{base}/docs").status_code == 200
    page = httpx.get(f"{base}/").text
    assert "<textarea" in page and "http://" not in page and "https://" not in page  # no external assets


def test_csv_upload_is_scored(server):
    base, _ = server
    response = httpx.post(f"{base}/score/csv", content=f'id,text\n1,"{SCAM}"\n2,hi mum\n'.encode())
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0].startswith("id,text,scam_probability") and len(lines) == 3
    assert httpx.post(f"{base}/score/csv", content=b"id\n1\n").status_code == 422
    unquoted = httpx.post(f"{base}/score/csv", content=b"text\nhello, this is bukit aman\n")
    assert unquoted.status_code == 422 and "more fields than the header" in unquoted.json()["detail"]


def test_transcripts_never_reach_the_log(server):
    base, log = server
    httpx.post(f"{base}/predict", json={"text": "secret transcript words"})
    httpx.post(f"{base}/predict?text=secret%20query%20words", json={"text": "x"})
    time.sleep(0.3)
    text = log.read_text()
    assert "POST /predict" in text
    assert "secret" not in text


def test_api_key_guards_everything_but_health(keyed):
    assert httpx.get(f"{keyed}/health").status_code == 200
    for method, path in [("POST", "/predict"), ("GET", "/model"), ("GET", "/docs"), ("GET", "/openapi.json")]:
        assert httpx.request(method, f"{keyed}{path}", json={"text": "x"}).status_code == 401
        wrong = httpx.request(method, f"{keyed}{path}", json={"text": "x"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    ok = httpx.post(f"{keyed}/predict", json={"text": SCAM}, headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200
    assert httpx.get(f"{keyed}/", follow_redirects=False).headers["location"] == "/login"


def test_login_form_sets_a_session_cookie(keyed):
    with httpx.Client(base_url=keyed) as client:
        assert client.post("/login", data={"api_key": "wrong"}).status_code == 401
        signed_in = client.post("/login", data={"api_key": KEY}, follow_redirects=False)
        assert signed_in.status_code == 303 and "scamclf_session" in signed_in.cookies
        assert "<textarea" in client.get("/").text
        assert client.post("/predict", json={"text": SCAM}).status_code == 200


def test_refuses_to_start_on_a_model_that_does_not_verify(scamclf_exe, model_copy, tmp_path):
    data = bytearray(model_copy.read_bytes())
    data[-10] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    run = subprocess.run(
        [scamclf_exe, "serve", "--model-path", str(model_copy), "--port", str(_free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and run.stderr.startswith("Error: ")


def test_warns_when_binding_beyond_loopback_without_a_key(scamclf_exe, model_path, tmp_path):
    process, _, log = _start(scamclf_exe, model_path, tmp_path, "--host", "0.0.0.0")
    process.terminate()
    process.wait(timeout=30)
    assert "without an API key" in log.read_text()


def _browser():
    """Headless Debian chromium through Selenium, or None (CI sets SCAMCLF_REQUIRE_BROWSER=1: then it must exist)."""
    import shutil

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        if os.environ.get("SCAMCLF_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required here (apt-get install chromium chromium-driver)")
        return None
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)


def test_page_in_a_real_browser_shows_verdict_and_highlighted_evidence(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    if browser is None:
        pytest.skip("no chromium here")
    base, _ = server
    try:
        browser.get(f"{base}/")
        browser.find_element(By.ID, "transcript").send_keys(SCAM)
        browser.find_element(By.ID, "check").click()
        WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "verdict").text.strip())
        assert browser.find_element(By.ID, "verdict").text in ("SCAM", "SUSPICIOUS")
        marks = browser.find_elements(By.CSS_SELECTOR, "#highlighted mark")
        assert marks and all(m.text.strip() for m in marks)
        assert browser.find_element(By.ID, "result").is_displayed()
    finally:
        browser.quit()
