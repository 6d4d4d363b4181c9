"""The commands' processes: a rehearsal (`rehearse`) with its embedded mock core, crash drill and
progress line, and the capacity search (`capacity`, `search`). They start Locust as a child and
read what it leaves in the run folder; they never import Locust themselves."""
