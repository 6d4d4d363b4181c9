"""Locust's side of the harness, one module per job (docs/architecture.md):

- `dispatch`: the open model inside one Locust process, visits put on queues when due;
- `distributed`: a distributed run's shares, batches and merge (`Fleet`);
- `session`: Locust's HTTP session as the journeys' client;
- `scrape`: the target's `/metrics`, scraped into the run folder;
- `options`: the harness's options on Locust's command line and web UI, and their checks;
- `state`: one run's state in this process (`RunState`, `current`);
- `lifecycle`: the harness's one entry at Locust's init (`attach`: the run's listeners on that
  environment's own events), the run's start (its folder, the target prepared), end (the folder
  written and judged) and exit code;
- `users`: the channel users, each taking the next due visit and running its journey;
- `shape`: how many users the visits in flight need;
- `messages`: a distributed run's plan, batches and last batches between master and workers;
- `memory`: the collector's settings under load;
- `host`: the generator's host, sampled every second of the run (`generator.csv`).

`loadtests/` holds only thin classes that import these; they are imported once, as
`surge.harness.*`, so their listeners on Locust's global events (`init` and the command line's
parser only) are registered once however many locustfiles import them (the shape imports
`lifecycle`, which imports `options` and `messages`). The package
itself imports nothing, so importing one of its Locust-free modules (`dispatch`) imports no
Locust.
"""
