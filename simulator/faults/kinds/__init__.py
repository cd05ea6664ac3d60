"""One module per fault kind that a scenario's `faults:` list can name; each registers itself with
@fault_kind (simulator.faults.registry loads them all)."""
