"""A regular package on purpose: the `oracle` extra (sagemaker-core -> smdebug_rulesconfig) installs its own
top-level `tests` package into site-packages, which would shadow `tests` if this were a namespace package."""
