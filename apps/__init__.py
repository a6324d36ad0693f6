"""The web applications that httplab benchmarks: one per framework, one shared contract."""
