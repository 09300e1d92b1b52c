"""Migration of legacy systems: inventory, assessment, wave plans, execution, cutover, progress."""
