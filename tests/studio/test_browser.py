"""The studio in a real browser: Debian's Chromium through chromedriver, its microphone fed
from a WAV of real (espeak-ng) speech through the page's own getUserMedia and AudioWorklet.
Screenshots of every page land in test-artifacts/studio/ to look at."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT
from live_helpers import COMMANDS, NOT_A_COMMAND, silence, speak, take, write_wav
from studio_helpers import Studio, make_project

from dstorch.prepare.sources import NameParser

SHOTS = ROOT / "test-artifacts" / "studio"
TAKES_EACH = 2  # takes recorded through the page per command
WAIT = 30  # seconds for anything the page shows


def _chrome_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("chromium and chromium-driver not installed (CI installs them)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium not installed (pip install -e '.[dev]')")
    return browser, driver


def open_browser(fake_audio: Path, profile: Path):
    """Headless Chromium whose microphone plays `fake_audio` (looped)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = _chrome_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_audio}",
        f"--user-data-dir={profile}",
        "--window-size=1000,900",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver))


def wait(driver, predicate, what: str, seconds: float = WAIT):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, seconds, 0.1).until(lambda d: predicate(d))
    except Exception:
        driver.switch_to.default_content()
        shot(driver, f"failed-{what.replace(' ', '-')}")
        message = driver.find_element("id", "message").text
        raise AssertionError(f"timed out waiting for {what} (page says {message!r})") from None


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def by_id(driver, name: str):
    return driver.find_element("id", name)


def press(driver, name: str) -> None:
    """Click button `name` once the page shows it enabled: a slow machine may still be
    loading the page's state when the test is ready."""

    def ready(d) -> bool:
        loaded = d.find_element("tag name", "body").get_attribute("data-ready") == "yes"
        return loaded and by_id(d, name).is_displayed() and by_id(d, name).is_enabled()

    wait(driver, ready, name)
    by_id(driver, name).click()


@pytest.fixture(scope="module")
def project(tmp_path_factory, command_model):
    _chrome_paths()
    # AUGMENT empty: prepare need not simulate rooms for a run that is stopped at once
    settings = {"MAX_EPOCH": "2000", "AUGMENT": ""}
    root = make_project(tmp_path_factory.mktemp("studio-project"), COMMANDS, **settings)
    server = Studio(root)
    yield root, server, tmp_path_factory.mktemp("browser")
    server.stop()


def _correlation(saved: np.ndarray, said: np.ndarray) -> float:
    """Peak normalised cross-correlation of the injected take inside the saved one (the
    browser resamples it on the way: 1.0 is out of reach, unrelated audio is far below)."""
    from scipy.signal import correlate

    a, b = saved.astype(np.float64), said.astype(np.float64)
    if len(a) < len(b):
        return 0.0
    dots = np.abs(correlate(a, b, mode="valid", method="fft"))
    energy = np.sqrt(np.maximum(np.convolve(a**2, np.ones(len(b)), mode="valid"), 0))
    loud = energy > 0.3 * np.linalg.norm(b)  # near-silent windows would divide by ~0
    return float(np.max(np.where(loud, dots / (energy * np.linalg.norm(b) + 1e-9), 0.0)))


def record_takes(driver, server, key: str, count: int) -> None:
    """Record `count` takes of command `key` through the Record page."""
    for _ in range(count):
        while by_id(driver, "prompt-id").text != f"(id {key})":
            press(driver, "skip")
        press(driver, "rec")
        time.sleep(3.2)  # the fake microphone loops a 2.4 s file: one whole take inside
        press(driver, "rec")
        wait(driver, lambda d: by_id(d, "keep").is_enabled(), "the trimmed take")
        before = by_id(driver, "message").text
        press(driver, "keep")
        wait(driver, lambda d, b=before: by_id(d, "message").text not in (b, ""), "the save")
        assert by_id(driver, "message").text.startswith("saved "), by_id(driver, "message").text


def test_record_takes_of_every_command_through_the_page(project, command_model):
    root, server, scratch = project
    started = time.monotonic()
    for number, (key, _) in enumerate(COMMANDS.items()):
        said = take(command_model["takes"], key, voice=number)
        fake = write_wav(
            scratch / f"say-{key}.wav", np.concatenate([silence(0.7), said, silence(0.7)])
        )
        driver = open_browser(fake, scratch / f"profile-{key}")
        try:
            driver.get(server.url + "#record")
            by_id(driver, "speaker").send_keys("newuser")
            press(driver, "begin")
            wait(driver, lambda d: by_id(d, "prompt-text").text, "the first prompt")
            record_takes(driver, server, key, TAKES_EACH)
            if number == len(COMMANDS) - 1:
                press(driver, "rec")
                time.sleep(2.0)
                press(driver, "rec")
                wait(driver, lambda d: by_id(d, "keep").is_enabled(), "a take to show")
                shot(driver, "record")
        finally:
            driver.quit()
        saved = sorted((root / "original" / "en").glob(f"shapes_newuser_2_3_000000_{key}_*.wav"))
        assert [p.name[-7:] for p in saved] == [f"{n:03d}.wav" for n in range(1, TAKES_EACH + 1)]
        for path in saved:
            info = sf.info(str(path))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert NameParser("")(path.stem) == (key, "newuser")
            pcm = sf.read(str(path), dtype="int16")[0]
            assert _correlation(pcm, said) > 0.8, f"{path.name} does not hold the injected take"
    print(
        f"recorded {TAKES_EACH} takes of {len(COMMANDS)} commands in "
        f"{time.monotonic() - started:.0f} s"
    )


def test_edit_commands_through_the_page(project):
    root, server, scratch = project
    before = (root / "commands.csv").read_text()
    fake = write_wav(scratch / "quiet.wav", silence(1.0))
    driver = open_browser(fake, scratch / "profile-commands")
    try:
        driver.get(server.url + "#commands")
        wait(
            driver,
            lambda d: len(d.find_elements("css selector", "#command-table tbody tr")) == 3,
            "the commands",
        )
        press(driver, "add-row")
        row = driver.find_elements("css selector", "#command-table tbody tr")[-1]
        row.find_element("css selector", "input[data-column=en]").send_keys("volume up")
        press(driver, "save-commands")
        wait(driver, lambda d: "saved" in by_id(d, "message").text, "the save")
        shot(driver, "commands")
        assert (root / "commands.csv").read_text() == before + "4,volume up\n"
        assert (root / "commands.csv.previous").read_text() == before
        row = driver.find_elements("css selector", "#command-table tbody tr")[-1]
        row.find_element("css selector", "input[data-column=id]").send_keys("_x")
        press(driver, "save-commands")
        wait(driver, lambda d: "no '_'" in by_id(d, "message").text, "the refusal")
        row.find_element("tag name", "button").click()  # Remove
        press(driver, "save-commands")
        wait(driver, lambda d: "saved" in by_id(d, "message").text, "the second save")
        assert (root / "commands.csv").read_text() == before
    finally:
        driver.quit()


def test_train_starts_shows_progress_and_stops_from_the_page(project):
    root, server, scratch = project
    driver = open_browser(scratch / "quiet.wav", scratch / "profile-train")
    try:
        driver.get(server.url + "#train")
        press(driver, "train-start")
        wait(
            driver,
            lambda d: len(d.find_elements("css selector", "#epochs tbody tr")) >= 2,
            "two epochs on the page",
            seconds=240,
        )
        wait(
            driver,
            lambda d: by_id(d, "train-status").text.startswith("running (local), epoch"),
            "the status line",
        )
        shot(driver, "train")
        press(driver, "train-stop")
        wait(
            driver,
            lambda d: by_id(d, "train-status").text.startswith("stopped (local)"),
            "the stop",
            seconds=120,
        )
        assert "Epoch" in by_id(driver, "train-log").text
    finally:
        driver.quit()


def install_model(root: Path, command_model) -> None:
    """The trained model where `make export` puts one: MODELS_DIR/MODEL_NAME.*."""
    models = root / "models"
    models.mkdir(exist_ok=True)
    for suffix in ("pbmm", "scorer", "gate"):
        name = "commands.gate.json" if suffix == "gate" else f"commands.{suffix}"
        shutil.copy(command_model[suffix], models / name)
    for report in command_model["pbmm"].parent.glob("report*"):
        shutil.copy(report, models / report.name)


def test_try_answers_a_command_and_rejects_other_speech(project, command_model):
    root, server, scratch = project
    install_model(root, command_model)
    speech = speak(NOT_A_COMMAND, scratch)
    said = take(command_model["takes"], "2", voice=0)
    audio = np.concatenate([silence(1.0), said, silence(1.2), speech, silence(1.2)])
    driver = open_browser(write_wav(scratch / "try.wav", audio), scratch / "profile-try")
    try:
        driver.get(server.url + "#try")
        press(driver, "listen")

        def rows(d):
            return [r.text for r in d.find_elements("css selector", "#heard tbody tr")]

        wait(
            driver,
            lambda d: (
                any(" stop " in f" {r} " for r in rows(d))
                and any("rejected: no command" in r for r in rows(d))
            ),
            "a command and a rejection",
        )
        shot(driver, "try")
        press(driver, "listen-stop")
        wait(driver, lambda d: "stopped" in by_id(d, "message").text, "the stop")
        heard = rows(driver)
        accepted = [r for r in heard if "rejected" not in r]
        assert accepted and all(r.startswith("stop stop") for r in accepted), heard
        driver.find_element("css selector", "nav button[data-tab=report]").click()
        driver.switch_to.frame(by_id(driver, "report-frame"))
        wait(driver, lambda d: "Evaluation report" in d.page_source, "the report")
        driver.switch_to.default_content()
        shot(driver, "report")
    finally:
        driver.quit()
