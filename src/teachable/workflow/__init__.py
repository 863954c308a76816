"""Workflow plumbing, apart from the method (docs/design.md): what the Snakefile needs to build
the DAG (dag, sharding), the scripts' and `teachable`'s one argument layer (scripting), logging
(logs), run provenance (provenance), stale-lock clearing (locks) and the report check
(report_check). It imports the method's lower layers (io, config, vocab, envs); the method
imports nothing from here but logs.progress and provenance.record_run (docs/design.md)."""
