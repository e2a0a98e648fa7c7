"""RQ jobs and the worker process: thin wrappers that open a session and call callcenter.services."""
