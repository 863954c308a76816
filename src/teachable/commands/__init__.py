"""Command groups of the `teachable` CLI (one module per group; see teachable.cli)."""
