"""Playwright for Python in a venv of its own, for the scripts that drive Debian's Chromium
(scripts/console-test, bench/console.py). Playwright comes from PyPI; its own browser
download is never used: the scripts launch /usr/bin/chromium with the flags below."""
import os
import subprocess
import sys
import venv

PLAYWRIGHT = "1.65.3"
VENV = os.path.join(os.path.expanduser("~"), ".cache", "llm-exporter", "playwright-venv")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def reexec_in_venv(script):
    """Runs `script` again under the venv's Python, creating the venv first when it lacks this
    Playwright (about 15 s once); returns at once when already there."""
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    probe = [python, "-c", f"import importlib.metadata as m; assert m.version('playwright') == '{PLAYWRIGHT}'"]
    if not os.path.exists(python) or subprocess.run(probe, capture_output=True).returncode != 0:
        print(f"installing playwright {PLAYWRIGHT} into {VENV}", file=sys.stderr)
        venv.create(VENV, with_pip=True, clear=True)
        subprocess.run([python, "-m", "pip", "install", "-q", f"playwright=={PLAYWRIGHT}"], check=True)
    os.execv(python, [python, os.path.abspath(script), *sys.argv[1:]])


def launch(playwright, profile, **options):
    """Debian's Chromium, headless, with a fresh profile in the directory `profile`."""
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, **options)
