"""Benchmarks of the scheduling engine against its two peers (issue 3); not part of the test suite.

    .venv/bin/python -m bench.run --backend both --scale small     # a smoke run, well under a minute per backend
    .venv/bin/python -m bench.run --backend both --scale full      # 100k agents, 1M pending follow-ups

`run` is the one entry point; each other module is one scenario (`rss` with its child process `rss_child`,
`scheduling`, `restart`, `sweep`, `dispatch`) or one piece of set-up (`database` seeds a fresh database,
`emulator` starts the fake Bot API, `children` spawns and measures processes, `report` prints and saves).
Figures are printed as tables and written to bench/results/<timestamp>.json; docs/benchmarks.md says what
they were on which machine. Needs the `bench` extra (`pip install -e '.[dev,bench]'`) for the job-store peer
on PostgreSQL, node/npm for the Bot API emulator, and a PostgreSQL server on 127.0.0.1:5432 for that backend.
"""
