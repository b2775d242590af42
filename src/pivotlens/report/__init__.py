"""Reports over finished runs: the run report and the real-model study summary."""
