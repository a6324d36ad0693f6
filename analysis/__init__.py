"""Turn httplab results into the paper's statistics, figures and tables; compare runs."""
