"""Layer 6: experiments that compose the engine, metrics and figures: Table 1 (reproduce,
restarts), Figure 1 and the 2-D toy figure. Each trains through :func:`gankit.runs.train.train`."""
