"""Layer 4: the one training loop (:class:`~gankit.engine.loop.Engine`), its state, its callbacks
(loggers, snapshots, metrics) and the distributed session. It knows nothing about run folders:
those are callbacks given to it by :mod:`gankit.runs`."""
