"""The harness listens on each Locust environment's own events, put there at its init
(`surge.harness.lifecycle.attach`); on Locust's global events, only for init itself and the
command line's options (docs/architecture.md). Looked at in a process of its own: importing
Locust patches the standard library with gevent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOK = """
import json, locust
from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner
import loadtests.branch_users, loadtests.surge_shape  # what `locust -f loadtests` imports

def ours(hook):
    found = []
    for listener in hook._handlers:
        function = getattr(listener, "func", listener)
        if getattr(function, "__module__", "").startswith("surge."):
            found.append(function.__name__)
    return found

def listening(events):
    return {name: ours(hook) for name, hook in vars(events).items() if ours(hook)}

environment, other = Environment(events=Events()), Environment(events=Events())
for listener in locust.events.init._handlers:
    environment.events.init.add_listener(listener)
master = MasterRunner(environment, "127.0.0.1", 0)
environment.events.init.fire(environment=environment, runner=master, web_ui=None)
master.quit()
print(json.dumps({"global": listening(locust.events), "attached": listening(environment.events),
                  "other": listening(other.events)}))
"""


def test_init_puts_the_runs_listeners_on_its_environments_own_events_and_none_globally() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOOK], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(seen["global"]) == {"init", "init_command_line_parser"}
    assert seen["attached"] == {
        "init": seen["global"]["init"],
        "test_start": ["start_run"],
        "test_stopping": ["end_day"],
        "test_stop": ["finish_run"],
        "quitting": ["announce"],
        "worker_report": ["note_report"],
    }
    assert seen["other"] == {}  # an environment whose init did not fire has none
