"""Migration of legacy systems: inventory, assessment, wave planning. Built by issue 6."""
